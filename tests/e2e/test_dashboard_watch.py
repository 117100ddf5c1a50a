"""A regular user's page watches only the rows it shows, over its socket; staff keep the whole list.

Every frame each page's socket sends and receives is recorded, so the watch list and what the
server pushes are checked on what really crossed the socket.
"""

import json

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from tests.e2e.conftest import ONE_REFRESH, SLACK_SECONDS
from users.models import User

pytestmark = pytest.mark.live
PUSH_WAIT = 1 + SLACK_SECONDS  # a push is due within a second; a loaded machine gets the usual slack
WATCH_DELAY = 0.25  # the page tells the server once the search has settled (dashboard.js WATCH_DELAY_MS)


class Frames:
    """The JSON frames one page's presence socket sent and received."""

    def __init__(self, page):
        self.sent: list[dict] = []
        self.received: list[dict] = []
        page.on("websocket", self._follow)

    def _follow(self, ws):
        ws.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
        ws.on("framereceived", lambda payload: self.received.append(json.loads(payload)))

    def watch_lists(self) -> list:
        """Each list the page named, in order: in its auth messages and its watch messages."""
        lists = []
        for frame in self.sent:
            if frame.get("type") == "auth":
                lists.append(frame.get("watch"))
            elif frame.get("type") == "watch":
                lists.append(frame["users"])
        return lists

    def pushed_ids(self, since: int = 0) -> set[int]:
        return {u["id"] for f in self.received[since:] if f.get("type") == "presence" for u in f["users"]}


def ids(*usernames) -> list[int]:
    return sorted(User.objects.filter(username__in=usernames).values_list("id", flat=True))


@pytest.fixture
def alice_page(people, open_dashboard):
    """alice's page (a regular user), with its socket up and every frame recorded."""
    page = open_dashboard("alice", socket=True)
    frames = Frames(page.page)
    page.log_in("alice", PASSWORD)
    expect(page.page.locator("body")).to_have_attribute("data-transport", "socket", timeout=10_000)
    page.shows("alice", "online", within=ONE_REFRESH)
    return page, frames


def search(page, text: str, frames: Frames, expected: list[int]):
    """Type into the search box; returns once the page told its socket to watch `expected`."""
    page.page.fill("#search", text)
    for _ in range(int((WATCH_DELAY + PUSH_WAIT) / 0.05)):
        if frames.watch_lists()[-1:] == [expected]:
            return
        page.wait(0.05)
    assert frames.watch_lists()[-1:] == [expected], frames.watch_lists()


def test_the_watch_list_follows_the_rows_on_screen(alice_page):
    page, frames = alice_page
    everyone = ids("admin", "alice", "bob", "carol")
    page.wait(WATCH_DELAY + 0.5)
    assert frames.watch_lists()[-1] == everyone  # all four rows fit on screen

    search(page, "bob", frames, ids("alice", "bob"))  # her own row always, for her own status
    expect(page.page.locator("#users tbody tr")).to_have_count(1)
    search(page, "", frames, everyone)


def test_a_change_to_a_watched_user_shows_within_a_second(alice_page, live_api):
    page, frames = alice_page
    search(page, "bob", frames, ids("alice", "bob"))

    status, _, _ = live_api.call("POST", "/api/users/login/", {"username": "bob", "password": PASSWORD})
    assert status == 200

    assert page.shows("bob", "online", within=PUSH_WAIT) <= PUSH_WAIT


def test_a_change_to_an_unwatched_user_sends_this_socket_nothing(alice_page, live_api):
    page, frames = alice_page
    search(page, "bob", frames, ids("alice", "bob"))
    mark = len(frames.received)

    assert live_api.call("POST", "/api/users/login/", {"username": "carol", "password": PASSWORD})[0] == 200
    # bob changes after carol: had carol's change been pushed here, it would have come first.
    assert live_api.call("POST", "/api/users/login/", {"username": "bob", "password": PASSWORD})[0] == 200
    page.shows("bob", "online", within=PUSH_WAIT)

    (carol,) = ids("carol")
    assert carol not in frames.pushed_ids(mark)


def test_staff_keep_the_whole_list(people, open_dashboard, live_api):
    staff = open_dashboard("staff", socket=True)
    frames = Frames(staff.page)
    staff.log_in("admin", PASSWORD)
    expect(staff.page.locator("body")).to_have_attribute("data-transport", "socket", timeout=10_000)
    staff.page.fill("#search", "bob")
    staff.wait(WATCH_DELAY + 0.5)

    assert frames.watch_lists() == [None]  # the auth names no list: everyone
    assert live_api.call("POST", "/api/users/login/", {"username": "carol", "password": PASSWORD})[0] == 200
    staff.page.fill("#search", "")
    staff.shows("carol", "online", within=PUSH_WAIT)


def test_a_long_list_shows_and_watches_a_page_of_rows(people, make_user, open_dashboard):
    User.objects.bulk_create([User(username=f"member{i:03}") for i in range(120)])
    page = open_dashboard("alice", socket=True)
    frames = Frames(page.page)
    page.log_in("alice", PASSWORD)
    expect(page.page.locator("body")).to_have_attribute("data-transport", "socket", timeout=10_000)

    expect(page.page.locator("#users tbody tr")).to_have_count(100)
    expect(page.page.locator("#more-rows")).to_be_visible()
    page.wait(WATCH_DELAY + 0.5)
    shown = page.page.eval_on_selector_all("#users tbody tr", "rows => rows.map(r => r.dataset.username)")
    assert frames.watch_lists()[-1] == ids(*shown, "alice")
