"""The dashboard in real Chromium: a staff user watches a regular user come and go.

Each test runs the live server and (where beat matters) a real worker with beat, with the
presence intervals of tests/e2e/conftest.py, and opens one browser context per person.
"""

import time

import pytest

from conftest import PASSWORD
from tests.e2e.conftest import (
    HEARTBEAT_SECONDS,
    ONE_REFRESH,
    REFRESH_SECONDS,
    SLACK_SECONDS,
    SWEEP_SECONDS,
    TIMEOUT_SECONDS,
    wait_until,
)
from tests.live.conftest import presence_row, wait_until_healthy

pytestmark = pytest.mark.live


def test_1_the_staff_page_shows_a_user_online_within_one_refresh_of_their_login(staff, open_dashboard):
    staff.shows("alice", "offline", within=ONE_REFRESH)
    assert staff.page.locator("#counts").inner_text() == "1 online of 4 users"
    assert staff.page.locator("#users thead").inner_text().count("EMAIL") == 1  # staff see emails
    assert staff.row("alice").locator(".email").inner_text() == "alice@example.com"

    regular = open_dashboard("regular")
    body = regular.log_in("alice", PASSWORD)
    took = staff.shows("alice", "online", within=ONE_REFRESH)

    assert body["presence"] == {
        "heartbeat_seconds": HEARTBEAT_SECONDS,
        "refresh_seconds": REFRESH_SECONDS,
        "timeout_seconds": TIMEOUT_SECONDS,
        "idle_seconds": 300,  # PRESENCE_IDLE_SECONDS's default: the e2e server does not set it
        "websocket": "/ws/presence/",
        "watch_max": 1000,
    }
    assert took <= ONE_REFRESH
    assert staff.page.locator("#counts").inner_text() == "2 online of 4 users"
    assert staff.row("alice").locator(".last-seen").inner_text() == "now"
    assert presence_row("alice")[1] == "online"
    # The regular user sees the list too, without the staff-only email column.
    regular.shows("admin", "online", within=ONE_REFRESH)
    assert regular.row("admin").locator(".email").count() == 0
    assert not regular.page.locator("#users thead th.staff-only").is_visible()

    # Filter and search narrow the table; the counts stay those of everyone.
    staff.page.check('input[name="filter"][value="online"]')
    assert sorted(staff.page.locator("#users tbody tr").evaluate_all("rows => rows.map(r => r.dataset.username)")) == [
        "admin",
        "alice",
    ]
    staff.page.check('input[name="filter"][value="all"]')
    staff.page.fill("#search", "coop")
    assert staff.page.locator("#users tbody tr").evaluate_all("rows => rows.map(r => r.dataset.username)") == ["carol"]
    staff.page.fill("#search", "")
    staff.screenshot("alice-online")
    regular.screenshot("regular-view")


def test_2_the_page_sends_a_heartbeat_every_heartbeat_seconds(people, open_dashboard):
    regular = open_dashboard("regular")
    regular.log_in("alice", PASSWORD)
    intervals = 4
    regular.wait(intervals * HEARTBEAT_SECONDS + HEARTBEAT_SECONDS / 2)

    sent = regular.heartbeats
    # One at once when the dashboard starts, then one per interval.
    assert len(sent) == intervals + 1, sent
    assert {status for _, status in sent} == {200}
    gaps = [later - earlier for (earlier, _), (later, _) in zip(sent[1:], sent[2:])]
    assert all(abs(gap - HEARTBEAT_SECONDS) < 0.5 for gap in gaps), gaps
    _, status, last_seen = presence_row("alice")
    assert status == "online"
    assert time.time() - last_seen.timestamp() < HEARTBEAT_SECONDS + 1


def test_3_a_closed_page_goes_offline_after_the_timeout_because_beat_marks_it(
    staff, open_dashboard, celery_worker_beat
):
    regular = open_dashboard("regular")
    regular.log_in("alice", PASSWORD)
    staff.shows("alice", "online", within=ONE_REFRESH)
    # Past the timeout, heartbeats keep alice online, in the database too.
    staff.wait(TIMEOUT_SECONDS + SWEEP_SECONDS)
    assert staff.row("alice").get_attribute("data-status") == "online"
    assert presence_row("alice")[1] == "online"

    regular.page.close()  # no logout: the tab is simply gone
    last_heartbeat = regular.heartbeats[-1][0]
    staff.shows("alice", "offline", within=TIMEOUT_SECONDS + SWEEP_SECONDS + ONE_REFRESH + 5)
    assert time.monotonic() - last_heartbeat >= TIMEOUT_SECONDS

    # The stored row says offline too, written by the worker's sweep, not only read as stale.
    # (Nothing else writes it now that the tab is gone; the wait is long because a busy machine
    # may delay the worker well past its one-second schedule.)
    wait_until(lambda: presence_row("alice")[1] == "offline", describe=celery_worker_beat.describe)
    assert "reason=timeout" in celery_worker_beat.log()
    assert staff.page.locator("#counts").inner_text() == "1 online of 4 users"
    staff.screenshot("alice-timed-out")


def test_4_logging_out_shows_offline_on_the_staff_page_within_one_refresh(staff, open_dashboard):
    regular = open_dashboard("regular")
    regular.log_in("alice", PASSWORD)
    staff.shows("alice", "online", within=ONE_REFRESH)

    regular.page.click("#logout")
    regular.page.locator("#login-form").wait_for()
    took = staff.shows("alice", "offline", within=ONE_REFRESH)

    assert took <= ONE_REFRESH
    assert presence_row("alice")[1] == "offline"
    assert regular.page.locator("#login-message").inner_text() == "You have logged out."
    assert regular.page.evaluate("sessionStorage.length") == 0
    # Both timers stopped: no heartbeat and no poll after the logout.
    sent = len(regular.heartbeats)
    with_polls = []
    regular.page.on("request", lambda r: with_polls.append(r.url) if "/api/users/" in r.url else None)
    regular.wait(HEARTBEAT_SECONDS * 1.5)
    assert len(regular.heartbeats) == sent
    assert with_polls == []
    regular.screenshot("logged-out")


def test_5_a_stopped_server_shows_connection_lost_and_the_page_recovers(staff, live_api, start_process):
    staff.shows("alice", "offline", within=ONE_REFRESH)
    banner = staff.page.locator("#connection-lost")
    assert banner.is_hidden()

    live_api.process.stop()
    banner.wait_for(state="visible", timeout=ONE_REFRESH * 1000)
    assert "Connection lost, retrying" in banner.inner_text()
    assert staff.page.locator("body").get_attribute("data-connection") == "lost"
    assert staff.row("alice").is_visible()  # the last list stays on screen, dimmed
    staff.screenshot("connection-lost")

    staff.wait(2 * REFRESH_SECONDS)  # a few failed retries
    restarted = start_process("web-restarted", live_api.process.argv)  # the same port
    wait_until_healthy(live_api, restarted)
    banner.wait_for(state="hidden", timeout=ONE_REFRESH * 1000)
    assert staff.page.locator("body").get_attribute("data-connection") == "ok"
    staff.shows("admin", "online", within=ONE_REFRESH)
    staff.screenshot("recovered")


ACCESS_TOKEN_SECONDS = 3


@pytest.fixture
def short_access_tokens(live_env):
    """Access tokens that expire every few seconds; requested before the server starts."""
    live_env["JWT_ACCESS_TOKEN_SECONDS"] = str(ACCESS_TOKEN_SECONDS)


def test_an_expired_access_token_is_refreshed_and_a_revoked_session_returns_to_the_login_form(
    short_access_tokens, people, open_dashboard, live_api
):
    """Beyond the five: the page refreshes an expired token and retries once; when refreshing fails, it asks to log in."""
    regular = open_dashboard("regular")
    regular.log_in("alice", PASSWORD)
    regular.wait(2 * ACCESS_TOKEN_SECONDS + HEARTBEAT_SECONDS)

    assert regular.token_refreshes >= 2, regular.heartbeats
    if regular.heartbeats[-1][1] == 401:  # the wait ended between a refusal and its retry
        regular.wait(SLACK_SECONDS)
    statuses = [status for _, status in regular.heartbeats]
    assert 401 in statuses and statuses[-1] == 200, statuses  # refused once expired, then retried with a new token
    assert regular.page.locator("#dashboard-view").is_visible()
    assert presence_row("alice")[1] == "online"

    # The session ends elsewhere (its tokens revoked): the next request fails and so does the refresh.
    session = regular.page.evaluate("JSON.parse(sessionStorage.getItem('offchat.session'))")
    status, _, body = live_api.call(
        "POST", "/api/users/logout/", {"refresh": session["refresh"]}, token=session["access"]
    )
    if status == 401:  # the access token in storage had just expired: refresh it as the page would
        status, _, fresh = live_api.call("POST", "/api/users/token/refresh/", {"refresh": session["refresh"]})
        assert status == 200, fresh
        status, _, body = live_api.call(
            "POST", "/api/users/logout/", {"refresh": fresh["refresh"]}, token=fresh["access"]
        )
    assert status == 200, body

    message = regular.page.locator("#login-message")
    message.wait_for(state="visible", timeout=(HEARTBEAT_SECONDS + SLACK_SECONDS) * 1000)
    assert message.inner_text() == "Your session has expired. Please log in again."
    assert regular.page.locator("#dashboard-view").is_hidden()
    assert regular.page.evaluate("sessionStorage.length") == 0
    regular.screenshot("session-expired")
