"""GET /api/users/presence/?users=…: the feed restricted to a watch list, with the feed's guarantees, through HTTP."""

import pytest

from users.tests.expectations import assert_json_error

pytestmark = pytest.mark.django_db(transaction=True)

FEED = "/api/users/presence/"
LOGOUT = "/api/users/logout/"
MY_PRESENCE = "/api/users/me/presence/"


@pytest.fixture(autouse=True)
def timeout_120(settings):
    settings.PRESENCE_TIMEOUT_SECONDS = 120


@pytest.fixture
def people(make_user, device):
    """olga and boss (staff) read; alice and bob are logged in; carol never logged in."""
    names = ("olga", "boss", "alice", "bob", "carol")
    users = {name: make_user(username=name, is_staff=name == "boss") for name in names}
    clients = {name: device(users[name]) for name in names if name != "carol"}
    return users, clients


def scope(*users) -> str:
    return ",".join(str(user.id) for user in users)


def statuses(body) -> dict:
    return {entry["username"]: entry["online_status"] for entry in body["users"]}


def test_a_scoped_snapshot_has_just_those_users_and_leaves_out_ids_that_name_nobody(people):
    users, clients = people

    body = clients["olga"].get(FEED, {"users": f"{scope(users['alice'], users['carol'])},999999"}).json()

    assert body["full"] is True and body["cursor"]
    assert statuses(body) == {"alice": "online", "carol": "offline"}


def test_scoped_entries_are_the_entries_of_the_full_read(people):
    users, clients = people
    full = {e["id"]: e for e in clients["boss"].get(FEED).json()["users"]}

    body = clients["boss"].get(FEED, {"users": scope(users["alice"], users["bob"])}).json()

    assert body["users"] == [full[users["alice"].id], full[users["bob"].id]]


def test_scoped_changes_are_the_changes_of_those_users_only(people, device, clock):
    users, clients = people
    cursor = clients["olga"].get(FEED, {"users": scope(users["bob"], users["carol"])}).json()["cursor"]
    clock.advance(5)
    device(users["carol"])  # watched: logs in
    clients["alice"].post(LOGOUT, {}, format="json")  # not watched
    clients["bob"].patch(MY_PRESENCE, {"invisible": True}, format="json")  # watched: reads offline to olga

    body = clients["olga"].get(FEED, {"since": cursor, "users": scope(users["bob"], users["carol"])}).json()

    assert body["full"] is False
    assert statuses(body) == {"bob": "offline", "carol": "online"}


def test_a_scoped_timeout_shows_without_any_write(people, clock):
    users, clients = people
    cursor = clients["olga"].get(FEED, {"users": scope(users["bob"])}).json()["cursor"]

    clock.advance(121)  # bob and alice go silent; nobody sweeps

    body = clients["olga"].get(FEED, {"since": cursor, "users": scope(users["bob"])}).json()
    assert statuses(body) == {"bob": "offline"}


@pytest.mark.parametrize(
    "users",
    ["a", "1,,2", "1,", ",1", "1,1", "-1", "1.5", "0", " 1", "1;2", "9" * 20, "1 2"],
)
def test_a_bad_user_list_is_a_json_400_and_changes_nothing(people, users_table, users):
    _, clients = people
    before = users_table()

    body = assert_json_error(clients["olga"].get(FEED, {"users": users}), 400, "invalid")

    assert "users" in body["errors"]
    assert users_table() == before


def test_a_list_over_the_limit_is_a_400_and_one_at_the_limit_is_answered(people, settings):
    users, clients = people
    settings.PRESENCE_WATCH_MAX = 3
    four = scope(users["alice"], users["bob"], users["carol"], users["olga"])

    body = assert_json_error(clients["olga"].get(FEED, {"users": four}), 400, "invalid")

    assert "at most 3" in body["detail"]
    answered = clients["olga"].get(FEED, {"users": scope(users["alice"], users["bob"], users["carol"])})
    assert answered.status_code == 200 and len(answered.json()["users"]) == 3


def test_an_empty_user_list_is_a_400_not_a_full_read(people):
    _, clients = people
    assert "users" in assert_json_error(clients["olga"].get(FEED + "?users="), 400)["errors"]


def test_a_bad_cursor_with_a_good_list_is_still_a_400(people):
    users, clients = people
    body = assert_json_error(clients["olga"].get(FEED, {"since": "nonsense", "users": scope(users["bob"])}), 400)
    assert "since" in body["errors"]
