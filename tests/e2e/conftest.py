"""The browser suite's fixtures: Debian's Chromium driven by Playwright, against the live server and a real worker with beat.

The server and the worker are the live suite's (tests/live/conftest.py), with the presence
intervals shortened further through the environment; the page reads them from its login
response like any client. Screenshots go to artifacts/e2e/ (kept by CI, ignored by git).
"""

import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import PASSWORD
from tests.live.conftest import (  # noqa: F401  (the live suite's fixtures, shared)
    ROOT,
    celery_worker_beat,
    live_api,
    live_env,
    pytest_runtest_makereport,
    start_process,
    wait_until,
)

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; Playwright's own browser downloads are never used
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "artifacts" / "e2e"

SOCKET_URL = re.compile(r".*/ws/presence/$")
HEARTBEAT_SECONDS = 2
REFRESH_SECONDS = 1
# Longer than the live suite's 3 s: Chromium shares the two cores with the server and the
# worker, and a heartbeat that lands late must not let beat mark a live page offline.
TIMEOUT_SECONDS = 6
SWEEP_SECONDS = 1
# How late a page may show a change beyond its interval: a request, a render and a busy machine.
SLACK_SECONDS = 2.0
ONE_REFRESH = REFRESH_SECONDS + SLACK_SECONDS
# After a page's last socket closes, its session counts this long (a reload fits).
GRACE_SECONDS = 2
TWO_REFRESHES = 2 * REFRESH_SECONDS + SLACK_SECONDS


@pytest.fixture(scope="package")
def browser():
    """One headless Chromium for the package; skipped when Debian's chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
    with pytest.MonkeyPatch.context() as patch:
        # Playwright's sync API keeps an asyncio loop on this thread, and Django refuses ORM
        # calls while a loop runs; the tests' own queries are plain blocking reads of the rows.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


@pytest.fixture(autouse=True)
def e2e_presence_intervals(live_env):  # noqa: F811 - the imported fixture, requested by name
    """Seconds-long presence intervals (and no login throttling) for the server and the worker, through the environment."""
    live_env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    live_env.update(
        PRESENCE_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
        PRESENCE_REFRESH_SECONDS=str(REFRESH_SECONDS),
        PRESENCE_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
        PRESENCE_SWEEP_SECONDS=str(SWEEP_SECONDS),
        # Every test logs `admin` in, and the throttle's counts outlive each server in the shared
        # cache: the default 10 a minute would refuse logins of a later test (tests/security checks them).
        LOGIN_THROTTLE_USERNAME_RATE="1000/min",
        LOGIN_THROTTLE_IP_RATE="1000/min",
        PRESENCE_DISCONNECT_GRACE_SECONDS=str(GRACE_SECONDS),
    )
    return live_env


class Dashboard:
    """One browser tab on the dashboard, with the heartbeats it sent."""

    def __init__(self, page, base_url: str, name: str, shots: Path):
        self.page, self.base_url, self.name, self.shots = page, base_url, name, shots
        self.heartbeats: list[tuple[float, int]] = []  # (monotonic time sent, status answered)
        self.token_refreshes = 0
        self.reads = []  # the users-list GETs this page sent (Playwright requests), in order: any but its own /me/…
        self.not_found = []  # URLs answered 404, the favicon included
        page.on("response", lambda r: self.not_found.append(r.url) if r.status == 404 else None)
        page.on("request", lambda r: self.reads.append(r) if self._lists_users(r) else None)
        page.on("response", self._record)

    def _record(self, response):
        request = response.request
        if request.method == "POST" and request.url.endswith("/api/users/heartbeat/"):
            self.heartbeats.append((time.monotonic(), response.status))
        elif request.method == "POST" and request.url.endswith("/api/users/token/refresh/"):
            self.token_refreshes += 1

    @staticmethod
    def _lists_users(request) -> bool:
        path = urlsplit(request.url).path
        return request.method == "GET" and path.startswith("/api/users/") and not path.startswith("/api/users/me/")

    def read_paths(self) -> list[str]:
        """The users API GETs sent so far, as path and query: "/api/users/presence/?since=…"."""
        return [urlsplit(r.url)._replace(scheme="", netloc="").geturl() for r in self.reads]

    def open(self):
        self.page.goto(self.base_url + "/")
        self.page.locator("#login-form").wait_for()
        return self

    def log_in(self, username: str, password: str):
        """Fill and send the login form; returns once the users table is on screen."""
        self.page.fill("#login-form input[name=username]", username)
        self.page.fill("#login-form input[name=password]", password)
        with self.page.expect_response(lambda r: r.url.endswith("/api/users/login/")) as login:
            self.page.click("#login-form button[type=submit]")
        assert login.value.status == 200, login.value.text()
        self.page.locator("#dashboard-view").wait_for()
        return login.value.json()

    def row(self, username: str):
        return self.page.locator(f'#users tbody tr[data-username="{username}"]')

    def shows(self, username: str, status: str, *, within: float):
        """Wait until the row reads `status` (word and data attribute); returns how long it took."""
        from playwright.sync_api import expect

        started = time.monotonic()
        row = self.row(username)
        expect(row).to_have_attribute("data-status", status, timeout=within * 1000)
        expect(row.locator(".status .badge")).to_have_text(status)
        return time.monotonic() - started

    def wait(self, seconds: float):
        """Let time pass with the browser's events flowing (time.sleep would hold them back)."""
        self.page.wait_for_timeout(seconds * 1000)

    def screenshot(self, step: str):
        self.shots.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(self.shots / f"{self.name}-{step}.png"), full_page=True)


@pytest.fixture
def open_dashboard(browser, live_api, request):  # noqa: F811 - the imported fixture, requested by name
    """Open the dashboard in a fresh browser context (its own sessionStorage), as a separate person would."""
    contexts = []
    shots = ARTIFACTS / request.node.name

    def open_as(name: str, *, socket: bool = False, viewport=(1100, 640)) -> Dashboard:
        """A page; without `socket` its presence socket is refused (as by a proxy that drops WebSockets), so it polls."""
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(context)
        page = context.new_page()
        if not socket:
            page.route_web_socket(SOCKET_URL, lambda route: route.close())
        return Dashboard(page, live_api.base_url, name, shots).open()

    yield open_as
    for context in contexts:
        context.close()


@pytest.fixture
def people(make_user):
    """A staff operator, the regular user under watch, and two more users who stay offline."""
    make_user(username="admin", first_name="Ada", last_name="Admin", is_staff=True)
    make_user(username="alice", first_name="Alice", last_name="Archer")
    make_user(username="bob", first_name="Bob", last_name="Baker")
    make_user(username="carol", first_name="Carol", last_name="Cooper")


@pytest.fixture
def staff(people, open_dashboard):
    """The staff operator's dashboard, logged in."""
    page = open_dashboard("staff")
    page.log_in("admin", PASSWORD)
    page.shows("admin", "online", within=ONE_REFRESH)
    return page
