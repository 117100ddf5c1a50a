"""The dashboard over the presence socket: pushes with no polls and no HTTP heartbeats, and polling when the socket fails.

A staff page holds the socket; alice's page (a second browser context, her own socket) logs in
and is closed like a tab. Every HTTP request of the staff page is recorded, so "no poll and no
heartbeat while the socket is up" is checked on what the browser really sent.
"""

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from tests.e2e.conftest import GRACE_SECONDS, ONE_REFRESH, SLACK_SECONDS, SOCKET_URL

pytestmark = pytest.mark.live
# A push is due within a second; a loaded machine gets the usual slack on top.
PUSH_WAIT = 1 + SLACK_SECONDS


def http_presence_calls(page) -> list[str]:
    """The polls and HTTP heartbeats a page has sent."""
    return [p for p in page.read_paths() if p.startswith("/api/users/presence/")] + [
        "heartbeat" for _ in page.heartbeats
    ]


@pytest.fixture
def live_staff(people, open_dashboard):
    """The staff operator's page, logged in, with its socket up."""
    page = open_dashboard("staff", socket=True)
    page.log_in("admin", PASSWORD)
    expect(page.page.locator("body")).to_have_attribute("data-transport", "socket", timeout=10_000)
    page.shows("admin", "online", within=ONE_REFRESH)
    return page


def test_the_staff_page_sees_a_login_and_a_tab_close_over_the_socket_with_no_poll(live_staff, open_dashboard):
    before = len(http_presence_calls(live_staff))
    alice = open_dashboard("alice", socket=True)
    alice.log_in("alice", PASSWORD)
    expect(alice.page.locator("body")).to_have_attribute("data-transport", "socket", timeout=10_000)
    live_staff.shows("alice", "online", within=PUSH_WAIT)
    expect(live_staff.page.locator("#transport-socket")).to_be_visible()

    alice.page.close()  # the tab closes: no logout, the socket just goes away

    took = live_staff.shows("alice", "offline", within=GRACE_SECONDS + PUSH_WAIT + 1)
    assert took >= GRACE_SECONDS - 0.5, "the session must outlive the grace"
    assert http_presence_calls(live_staff)[before:] == [], "no poll and no HTTP heartbeat while the socket is up"


def test_a_blocked_socket_falls_back_to_polling_and_still_sees_changes(people, open_dashboard, live_api):
    staff = open_dashboard("staff", socket=True)
    staff.page.route_web_socket(SOCKET_URL, lambda route: route.close())  # as a proxy that drops WebSockets would
    staff.log_in("admin", PASSWORD)
    expect(staff.page.locator("body")).to_have_attribute("data-transport", "polling")
    expect(staff.page.locator("#transport-polling")).to_be_visible()
    status, _, _ = live_api.call("POST", "/api/users/login/", {"username": "bob", "password": PASSWORD})
    assert status == 200
    staff.shows("bob", "online", within=2 * ONE_REFRESH)
    assert any(p.startswith("/api/users/presence/?since=") for p in staff.read_paths()), "it polled the feed"
    assert staff.heartbeats, "it sent HTTP heartbeats"


def test_the_page_reconnects_after_its_socket_drops_and_resumes_from_its_cursor(people, open_dashboard, live_api):
    routes = []

    def through(route):
        route.connect_to_server()
        routes.append(route)

    staff = open_dashboard("staff", socket=True)
    staff.page.route_web_socket(SOCKET_URL, through)
    staff.log_in("admin", PASSWORD)
    expect(staff.page.locator("body")).to_have_attribute("data-transport", "socket", timeout=10_000)

    routes[0].close()  # the connection drops, as through a restarted proxy
    status, _, _ = live_api.call("POST", "/api/users/login/", {"username": "carol", "password": PASSWORD})
    assert status == 200

    staff.shows("carol", "online", within=PUSH_WAIT + ONE_REFRESH)
    staff.page.wait_for_function("() => document.body.dataset.transport === 'socket'", timeout=15_000)
    assert len(routes) >= 2, "the page opened a new socket"
