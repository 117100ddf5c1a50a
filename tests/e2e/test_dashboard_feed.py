"""The dashboard follows the presence feed: one full read, then only the changes since the cursor it holds.

A staff page (and a regular one) watch other clients, calling the API as a phone app would, log
in, log out and be created. Each page's requests are recorded; a server refusing the page's
cursor is played by page.route answering 400.
"""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import PASSWORD
from tests.e2e.conftest import HEARTBEAT_SECONDS, ONE_REFRESH, REFRESH_SECONDS, SLACK_SECONDS, TWO_REFRESHES

pytestmark = pytest.mark.live
FEED = "/api/users/presence/"
SINCE = FEED + "?since="
# A change that lands just after a poll read the users waits one more interval.


def since_of(request) -> str | None:
    return parse_qs(urlsplit(request.url).query).get("since", [None])[0]


def assert_follows_the_feed(page):
    """The first read is a full one; each later read asks from the cursor of the answer before it (a full read after a 400)."""
    paths = page.read_paths()
    assert paths and paths[0] == FEED, paths
    assert all(path.startswith(FEED) for path in paths), paths  # never the all-users list
    first = page.reads[0].response().json()
    assert first["full"] is True
    for earlier, later in zip(page.reads, page.reads[1:]):
        answer = earlier.response()
        if answer.status == 400:
            assert since_of(later) is None, paths
        else:
            assert answer.status == 200, answer.text()
            assert since_of(later) == answer.json()["cursor"], paths


def feed_entries(page) -> list[dict]:
    """Every user entry the page was sent by the feed (answers still in flight left out)."""
    return [user for request in page.reads[:-1] for user in request.response().json()["users"]]


def api_log_in(live_api, username: str) -> dict:
    status, _, body = live_api.call("POST", "/api/users/login/", {"username": username, "password": PASSWORD})
    assert status == 200, body
    return body


def api_heartbeat(live_api, tokens: dict) -> None:
    """Keep an API client online: it sends no heartbeats by itself, and TIMEOUT_SECONDS is only a few seconds."""
    status, _, body = live_api.call("POST", "/api/users/heartbeat/", {}, token=tokens["access"])
    assert status == 200, body


def api_create_user(live_api, username: str) -> None:
    """Create an account through the staff API, with a session of the staff user's own."""
    admin = api_log_in(live_api, "admin")
    status, _, body = live_api.call(
        "POST",
        "/api/users/admin/users/",
        {
            "username": username,
            "password": PASSWORD,
            "first_name": "Dave",
            "last_name": "Dean",
            "email": "dave@example.com",
        },
        token=admin["access"],
    )
    assert status == 201, body


def test_after_one_full_read_the_pages_ask_only_for_changes_and_show_another_clients_login_and_logout(
    staff, open_dashboard, live_api
):
    regular = open_dashboard("regular")
    regular.log_in("bob", PASSWORD)
    staff.shows("alice", "offline", within=ONE_REFRESH)
    staff.shows("bob", "online", within=ONE_REFRESH)

    alice = api_log_in(live_api, "alice")
    staff.shows("alice", "online", within=TWO_REFRESHES)
    assert staff.page.locator("#counts").inner_text() == "3 online of 4 users"
    assert staff.row("alice").locator(".last-seen").inner_text() == "now"
    api_heartbeat(live_api, alice)
    regular.shows("alice", "online", within=TWO_REFRESHES)
    staff.screenshot("alice-online-from-the-api")

    status, _, body = live_api.call("POST", "/api/users/logout/", {"refresh": alice["refresh"]}, token=alice["access"])
    assert status == 200, body
    staff.shows("alice", "offline", within=TWO_REFRESHES)
    regular.shows("alice", "offline", within=TWO_REFRESHES)
    assert staff.page.locator("#counts").inner_text() == "2 online of 4 users"

    for page in (staff, regular):
        assert len(page.reads) >= 3, page.read_paths()  # everyone, then alice online, then offline
        assert_follows_the_feed(page)
    # The regular page's feed carries no staff fields, so nothing new shows to a regular user.
    assert not any("email" in user or "invisible" in user for user in feed_entries(regular))
    assert regular.row("alice").locator(".email").count() == 0
    assert staff.row("alice").locator(".email").inner_text() == "alice@example.com"
    staff.screenshot("alice-logged-out-from-the-api")


def test_a_present_users_last_seen_reads_now_while_they_stay_and_ages_only_once_they_leave(staff, live_api):
    """The feed does not resend a user on each heartbeat, so their stored last_seen must not age on screen while they stay."""
    alice = api_log_in(live_api, "alice")
    staff.shows("alice", "online", within=TWO_REFRESHES)
    for _ in range(6):  # 12 s of heartbeats: past the 10 s that "just now" covers
        staff.wait(HEARTBEAT_SECONDS)
        api_heartbeat(live_api, alice)
    assert staff.row("alice").locator(".last-seen").inner_text() == "now"
    assert_follows_the_feed(staff)

    status, _, body = live_api.call("POST", "/api/users/logout/", {"refresh": alice["refresh"]}, token=alice["access"])
    assert status == 200, body
    staff.shows("alice", "offline", within=TWO_REFRESHES)
    assert staff.row("alice").locator(".last-seen").inner_text() == "just now"


def test_a_user_the_page_never_saw_is_added_when_the_feed_first_carries_them(staff, live_api):
    """A user created and logged in between two polls: the page held no row for that id and adds it from the feed."""
    staff.shows("carol", "offline", within=ONE_REFRESH)
    api_create_user(live_api, "dave")

    api_log_in(live_api, "dave")
    staff.shows("dave", "online", within=TWO_REFRESHES)
    assert staff.row("dave").locator(".full-name").inner_text() == "Dave Dean"
    assert staff.page.locator("#counts").inner_text() == "2 online of 5 users"
    assert_follows_the_feed(staff)  # added from the feed, not by a full reload


def test_a_user_created_after_the_page_loaded_appears_in_the_list(staff, live_api):
    staff.shows("carol", "offline", within=ONE_REFRESH)
    api_create_user(live_api, "dave")

    staff.shows("dave", "offline", within=TWO_REFRESHES)
    assert staff.row("dave").locator(".email").inner_text() == "dave@example.com"
    assert staff.page.locator("#counts").inner_text() == "1 online of 5 users"
    assert_follows_the_feed(staff)
    staff.screenshot("dave-created")


def test_a_rejected_cursor_makes_the_page_read_everyone_again_and_show_the_right_list(staff, live_api):
    staff.shows("alice", "offline", within=ONE_REFRESH)
    rejected, reread = [], []

    # The server forgets every cursor it issued so far: each one is refused until the page reads
    # everyone again (a page that only retried its cursor would stay stuck on "connection lost").
    def forget_old_cursors(route):
        if since_of(route.request) is None:
            reread.append(route.request.url)
        if since_of(route.request) is not None and not reread:
            rejected.append(route.request.url)
            body = {"detail": "Not a presence cursor from this server.", "code": "invalid"}
            route.fulfill(status=400, content_type="application/json", body=json.dumps(body))
        else:
            route.continue_()

    staff.page.route(lambda url: urlsplit(url).path == FEED, forget_old_cursors)
    alice = api_log_in(live_api, "alice")
    staff.shows("alice", "online", within=TWO_REFRESHES)

    assert len(rejected) == 1 and len(reread) == 1, staff.read_paths()
    assert staff.read_paths().count(FEED) == 2  # the first load and the one after the 400
    assert_follows_the_feed(staff)
    assert staff.page.locator("#counts").inner_text() == "2 online of 4 users"
    assert staff.page.locator("body").get_attribute("data-connection") == "ok"
    # And it follows the new cursor from there.
    live_api.call("POST", "/api/users/logout/", {"refresh": alice["refresh"]}, token=alice["access"])
    staff.shows("alice", "offline", within=TWO_REFRESHES)
    assert staff.read_paths()[-1].startswith(SINCE)
    assert_follows_the_feed(staff)
    staff.screenshot("after-a-rejected-cursor")


HIDE = """() => {
  for (const [name, value] of [["hidden", true], ["visibilityState", "hidden"]])
    Object.defineProperty(document, name, { value, configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW = """() => {
  delete document.hidden;
  delete document.visibilityState;
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_a_hidden_page_stops_polling_and_catches_up_from_its_cursor_when_shown(staff, live_api):
    staff.shows("alice", "offline", within=ONE_REFRESH)
    staff.page.evaluate(HIDE)
    staff.wait(REFRESH_SECONDS)  # a poll already in flight may still land
    sent = len(staff.reads)
    alice = api_log_in(live_api, "alice")
    staff.wait(3 * REFRESH_SECONDS)
    assert len(staff.reads) == sent, staff.read_paths()[sent:]
    assert staff.row("alice").get_attribute("data-status") == "offline"

    api_heartbeat(live_api, alice)
    staff.page.evaluate(SHOW)
    staff.shows("alice", "online", within=SLACK_SECONDS)  # at once, not at the next tick
    assert staff.read_paths()[sent].startswith(SINCE)  # no full reload needed to catch up
    assert_follows_the_feed(staff)
