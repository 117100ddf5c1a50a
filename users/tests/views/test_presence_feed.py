"""GET /api/users/presence/ (the incremental feed), invisible mode, and the all-users ETag, through HTTP.

Each request commits on its own (transactional tests): on PostgreSQL a change's position is its
transaction, so inside one long test transaction every change would look new to every read.
"""
import pytest

from users.services.simple_online_status import check_and_mark_offline_users
from users.tests.expectations import assert_json_error, iso

pytestmark = pytest.mark.django_db(transaction=True)

LOGIN = "/api/users/login/"
HEARTBEAT = "/api/users/heartbeat/"
LOGOUT = "/api/users/logout/"
FEED = "/api/users/presence/"
MY_PRESENCE = "/api/users/me/presence/"
ALL_USERS = "/api/users/all-users/"


@pytest.fixture(autouse=True)
def timeout_120(settings):
    settings.PRESENCE_TIMEOUT_SECONDS = 120


@pytest.fixture
def people(make_user, device):
    """olga (an ordinary viewer), boss (staff viewer), alice and bob (logged in), carol (never logged in)."""
    names = ("olga", "boss", "alice", "bob", "carol")
    users = {name: make_user(username=name, is_staff=name == "boss") for name in names}
    clients = {name: device(users[name]) for name in names if name != "carol"}
    return users, clients


def statuses(body) -> dict:
    return {entry["username"]: entry["online_status"] for entry in body["users"]}


def test_without_since_the_feed_is_everyone_and_a_cursor(people):
    users, clients = people

    response = clients["olga"].get(FEED)

    assert response.status_code == 200
    body = response.json()
    assert body["full"] is True and isinstance(body["cursor"], str) and body["cursor"]
    assert statuses(body) == {"olga": "online", "boss": "online", "alice": "online", "bob": "online", "carol": "offline"}
    assert body["users"] == clients["olga"].get(ALL_USERS).json()  # the same entries as the full list


def test_nothing_changed_means_an_empty_feed(people, clock):
    users, clients = people
    cursor = clients["olga"].get(FEED).json()["cursor"]
    clock.advance(10)

    body = clients["olga"].get(FEED, {"since": cursor}).json()

    assert body["full"] is False and body["users"] == []


def test_a_login_and_a_logout_each_show_up_once(people, make_user, device, clock):
    users, clients = people
    cursor = clients["olga"].get(FEED).json()["cursor"]
    carol = device(users["carol"])
    clients["bob"].post(LOGOUT, {}, format="json")

    body = clients["olga"].get(FEED, {"since": cursor}).json()
    assert statuses(body) == {"carol": "online", "bob": "offline"}
    assert next(e for e in body["users"] if e["username"] == "bob")["last_seen"] == iso(clock.current)

    assert clients["olga"].get(FEED, {"since": body["cursor"]}).json()["users"] == []
    assert carol.get(FEED, {"since": body["cursor"]}).json()["users"] == []


def test_heartbeats_that_change_nothing_stay_out_of_the_feed(people, clock):
    """Online users heartbeating on time are not changes: the feed stays empty (it costs no more than the changes)."""
    users, clients = people
    cursor = clients["olga"].get(FEED).json()["cursor"]
    for _ in range(3):
        clock.advance(30)
        for name in ("alice", "bob", "boss"):
            assert clients[name].post(HEARTBEAT, format="json").status_code == 200
        body = clients["olga"].get(FEED, {"since": cursor}).json()
        assert body["users"] == [], body
        cursor = body["cursor"]


def test_a_silent_timeout_shows_up_before_any_sweep_and_once(people, clock):
    """bob stops heartbeating: the first read after his timeout reports him offline, with no write at all."""
    users, clients = people
    cursor = clients["olga"].get(FEED).json()["cursor"]
    for _ in range(4):
        clock.advance(30)
        for name in ("alice", "boss", "olga"):
            clients[name].post(HEARTBEAT, format="json")
        body = clients["olga"].get(FEED, {"since": cursor}).json()
        cursor = body["cursor"]
        assert body["users"] == []  # bob's last heartbeat is at most 120 s old
    clock.advance(5)
    for name in ("alice", "boss", "olga"):
        clients[name].post(HEARTBEAT, format="json")

    body = clients["olga"].get(FEED, {"since": cursor}).json()
    assert statuses(body) == {"bob": "offline"}

    check_and_mark_offline_users()  # the sweep's own write may repeat him, never contradict
    clock.advance(30)
    later = clients["olga"].get(FEED, {"since": body["cursor"]}).json()
    assert statuses(later) in ({}, {"bob": "offline"})
    clock.advance(30)
    assert clients["olga"].get(FEED, {"since": later["cursor"]}).json()["users"] == []


def test_idle_shows_up_as_away(people, clock):
    users, clients = people
    cursor = clients["olga"].get(FEED).json()["cursor"]

    clients["alice"].post(HEARTBEAT, {"state": "idle"}, format="json")

    assert statuses(clients["olga"].get(FEED, {"since": cursor}).json()) == {"alice": "away"}


def test_invisible_users_read_offline_to_others_and_marked_to_staff(people, clock):
    """PATCH invisible: olga sees alice offline (last seen then), staff see her online with invisible: true."""
    users, clients = people
    olga_cursor = clients["olga"].get(FEED).json()["cursor"]
    boss_cursor = clients["boss"].get(FEED).json()["cursor"]
    clock.advance(20)

    response = clients["alice"].patch(MY_PRESENCE, {"invisible": True}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["invisible"] is True and response.json()["online_status"] == "online"
    hidden_at = clock.current
    olga_sees = clients["olga"].get(FEED, {"since": olga_cursor}).json()
    assert [(e["username"], e["online_status"], e["last_seen"]) for e in olga_sees["users"]] == [
        ("alice", "offline", iso(hidden_at))
    ]
    boss_sees = clients["boss"].get(FEED, {"since": boss_cursor}).json()
    assert [(e["username"], e["online_status"], e["invisible"]) for e in boss_sees["users"]] == [("alice", "online", True)]

    # While hidden, her heartbeats and her going idle show nowhere but to staff.
    clock.advance(30)
    clients["alice"].post(HEARTBEAT, {"state": "idle"}, format="json")
    listed = next(e for e in clients["olga"].get(ALL_USERS).json() if e["username"] == "alice")
    assert (listed["online_status"], listed["last_seen"]) == ("offline", iso(hidden_at))
    assert clients["olga"].get(FEED, {"since": olga_sees["cursor"]}).json()["users"] == []
    assert statuses(clients["boss"].get(FEED, {"since": boss_sees["cursor"]}).json()) == {"alice": "away"}

    # Visible again: everyone sees the real state.
    clients["alice"].patch(MY_PRESENCE, {"invisible": False}, format="json")
    assert statuses(clients["olga"].get(FEED, {"since": olga_sees["cursor"]}).json()) == {"alice": "away"}


@pytest.mark.parametrize("body", [{}, {"invisible": "maybe"}, {"invisible": None}])
def test_a_bad_invisible_body_is_a_json_400_and_changes_nothing(people, users_table, body):
    users, clients = people
    before = users_table()

    assert "invisible" in assert_json_error(clients["alice"].patch(MY_PRESENCE, body, format="json"), 400, "invalid")["errors"]
    assert users_table() == before


@pytest.mark.parametrize("since", ["nonsense", "1.2", "12.x.", "1." + "9" * 30 + "."])
def test_a_bad_cursor_is_a_json_400(people, since):
    users, clients = people

    assert "since" in assert_json_error(clients["olga"].get(FEED, {"since": since}), 400, "invalid")["errors"]


def test_the_feed_requires_authentication(api):
    assert_json_error(api.get(FEED), 401, "not_authenticated")
    assert_json_error(api.patch(MY_PRESENCE, {"invisible": True}, format="json"), 401, "not_authenticated")


# --- all-users ETag ------------------------------------------------------------


def test_all_users_answers_304_while_nothing_visible_changed(people, clock):
    users, clients = people
    first = clients["olga"].get(ALL_USERS)
    etag = first["ETag"]
    assert etag and first.status_code == 200

    unchanged = clients["olga"].get(ALL_USERS, HTTP_IF_NONE_MATCH=etag)

    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged["ETag"] == etag and "no-store" in unchanged["Cache-Control"]


def test_the_etag_changes_with_a_login(people, device, clock):
    users, clients = people
    etag = clients["olga"].get(ALL_USERS)["ETag"]
    device(users["carol"])

    response = clients["olga"].get(ALL_USERS, HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 200 and response["ETag"] != etag


def test_the_etag_changes_when_time_alone_takes_someone_offline(people, clock):
    """No write at all: bob's heartbeat simply grows older than the timeout, and the old ETag no longer matches."""
    users, clients = people
    clock.advance(100)
    clients["olga"].post(HEARTBEAT, format="json")
    etag = clients["olga"].get(ALL_USERS)["ETag"]
    clock.advance(5)
    assert clients["olga"].get(ALL_USERS, HTTP_IF_NONE_MATCH=etag).status_code == 304

    clock.advance(20)  # bob, alice and boss: 125 s since their login
    response = clients["olga"].get(ALL_USERS, HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 200
    assert {e["username"]: e["online_status"] for e in response.json()}["bob"] == "offline"


def test_staff_and_ordinary_users_get_different_etags(people):
    users, clients = people
    assert clients["olga"].get(ALL_USERS)["ETag"] != clients["boss"].get(ALL_USERS)["ETag"]
