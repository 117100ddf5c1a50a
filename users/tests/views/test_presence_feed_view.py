"""GET /api/users/presence/ (the incremental feed), invisible mode, and the all-users ETag, through HTTP.

Each request commits on its own (transactional tests): on PostgreSQL a change's position is its
transaction, so inside one long test transaction every change would look new to every read.
"""

import io

import pytest
from django.core.management import call_command
from django.db import connection

from users.models import User
from users.services.simple_online_status import check_and_mark_offline_users
from users.tests.expectations import assert_json_error, iso

pytestmark = pytest.mark.django_db(transaction=True)

LOGIN = "/api/users/login/"
HEARTBEAT = "/api/users/heartbeat/"
LOGOUT = "/api/users/logout/"
FEED = "/api/users/presence/"
MY_PRESENCE = "/api/users/me/presence/"
ALL_USERS = "/api/users/all-users/"
ADMIN_USERS = "/api/users/admin/users/"
DJANGO_ADMIN = "/admin/users/user/"


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
    assert statuses(body) == {
        "olga": "online",
        "boss": "online",
        "alice": "online",
        "bob": "online",
        "carol": "offline",
    }
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
    assert [(e["username"], e["online_status"], e["invisible"]) for e in boss_sees["users"]] == [
        ("alice", "online", True)
    ]

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

    assert (
        "invisible"
        in assert_json_error(clients["alice"].patch(MY_PRESENCE, body, format="json"), 400, "invalid")["errors"]
    )
    assert users_table() == before


@pytest.mark.parametrize(
    "since",
    ["nonsense", "1.2", "12.x.", "1." + "9" * 30 + "."]
    # The cursor's form, with numbers no datetime or bigint column holds: these were 500s.
    + ["9" * 20 + ".1.", "1.1." + "9" * 20, "1." + str(2**63) + "."],
)
def test_a_bad_cursor_is_a_json_400(people, since):
    users, clients = people

    assert "since" in assert_json_error(clients["olga"].get(FEED, {"since": since}), 400, "invalid")["errors"]


@pytest.mark.parametrize("shift", ["positions", "clock"])
def test_a_cursor_ahead_of_the_server_is_a_json_400_not_a_silent_gap(people, shift):
    """After a restore or reset the positions start lower again: a client's old cursor would skip every change below it.

    Simulated with a cursor this server issued, moved ahead of it: in the change sequence, or past the clock.
    """
    users, clients = people
    issued = clients["olga"].get(FEED).json()["cursor"]
    micros, floor, in_flight = issued.split(".")
    ahead = (
        f"{micros}.{int(floor) + 10**6}.{in_flight}"
        if shift == "positions"
        else f"{int(micros) + 3600 * 10**6}.{floor}.{in_flight}"
    )

    assert clients["olga"].get(FEED, {"since": issued}).status_code == 200
    body = assert_json_error(clients["olga"].get(FEED, {"since": ahead}), 400, "invalid")
    assert "restored or reset" in str(body["errors"]["since"])


def test_the_feed_requires_authentication(api):
    assert_json_error(api.get(FEED), 401, "not_authenticated")
    assert_json_error(api.patch(MY_PRESENCE, {"invisible": True}, format="json"), 401, "not_authenticated")


# --- account changes -------------------------------------------------------------


def entries(body) -> dict:
    """The feed's entries by username, without last_seen (the feed reports it as of the read, not as a change)."""
    return {e["username"]: {k: v for k, v in e.items() if k != "last_seen"} for e in body["users"]}


@pytest.fixture
def django_admin(client, make_user):
    """A browser session of a superuser in the Django admin."""
    client.force_login(make_user(username="root", is_staff=True, is_superuser=True))
    return client


def create_through_the_api(clients, admin):
    response = clients["boss"].post(
        ADMIN_USERS, {"username": "dave", "password": "Dave-pass-1234", "email": "dave@example.com"}, format="json"
    )
    assert response.status_code == 201, response.content


def create_in_the_django_admin(clients, admin):
    response = admin.post(
        f"{DJANGO_ADMIN}add/",
        {"username": "dave", "usable_password": "true", "password1": "Dave-pass-1234", "password2": "Dave-pass-1234"},
    )
    assert response.status_code == 302, response.content
    User.objects.filter(username="dave").update(email="dave@example.com")  # the add form asks for no email


def create_with_createsuperuser(clients, admin):
    call_command("createsuperuser", interactive=False, username="dave", email="dave@example.com", verbosity=0)


def create_with_plain_sql(clients, admin):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite allows no subquery in a column default: rows inserted by plain SQL there start at 0")
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO users (password, is_superuser, username, first_name, last_name, email,
                                  is_staff, is_active, date_joined, online_status)
               VALUES ('!', false, 'dave', '', '', 'dave@example.com', false, true, now(), 'offline')"""
        )


@pytest.mark.parametrize(
    "create",
    [
        create_through_the_api,
        create_in_the_django_admin,
        create_with_createsuperuser,
        create_with_plain_sql,
    ],
    ids=["api", "django_admin", "createsuperuser", "plain_sql"],
)
def test_a_user_created_after_the_cursor_shows_up_once_for_ordinary_and_staff_viewers(people, django_admin, create):
    """A new account is in the next poll, offline, without waiting for its first login; and only once."""
    users, clients = people
    olga_cursor = clients["olga"].get(FEED).json()["cursor"]
    boss_cursor = clients["boss"].get(FEED).json()["cursor"]

    create(clients, django_admin)

    dave = User.objects.get(username="dave")
    olga_sees = clients["olga"].get(FEED, {"since": olga_cursor}).json()
    assert entries(olga_sees) == {
        "dave": {"id": dave.pk, "username": "dave", "first_name": "", "last_name": "", "online_status": "offline"}
    }
    boss_sees = clients["boss"].get(FEED, {"since": boss_cursor}).json()
    assert entries(boss_sees) == {
        "dave": {
            "id": dave.pk,
            "username": "dave",
            "first_name": "",
            "last_name": "",
            "online_status": "offline",
            "email": "dave@example.com",
            "is_staff": dave.is_staff,
            "is_active": True,
            "invisible": False,
        }
    }
    assert clients["olga"].get(FEED, {"since": olga_sees["cursor"]}).json()["users"] == []


def test_seed_demo_users_show_up_in_the_feed(make_user, device):
    """`manage.py seed_demo` creates accounts without the API: a viewer's next poll lists them."""
    olga = device(make_user(username="olga"))
    cursor = olga.get(FEED).json()["cursor"]

    call_command("seed_demo", stdout=io.StringIO())

    seen = entries(olga.get(FEED, {"since": cursor}).json())
    assert {name: entry["online_status"] for name, entry in seen.items()} == {
        "admin": "offline",
        "alice": "offline",
        "bob": "offline",
        "carol": "offline",
        "demo-dan": "offline",
        "demo-eve": "offline",
        "demo-fay": "offline",
    }
    assert (seen["alice"]["first_name"], seen["alice"]["last_name"]) == ("Alice", "Archer")


def test_a_rename_shows_up_for_everyone_with_presence_unchanged(people):
    users, clients = people
    olga_cursor = clients["olga"].get(FEED).json()["cursor"]
    boss_cursor = clients["boss"].get(FEED).json()["cursor"]

    response = clients["boss"].patch(
        f"{ADMIN_USERS}{users['alice'].pk}/", {"first_name": "Alicia", "last_name": "Abbott"}, format="json"
    )

    assert response.status_code == 200, response.content
    for viewer, cursor in (("olga", olga_cursor), ("boss", boss_cursor)):
        seen = entries(clients[viewer].get(FEED, {"since": cursor}).json())
        assert list(seen) == ["alice"], viewer
        assert (seen["alice"]["first_name"], seen["alice"]["last_name"], seen["alice"]["online_status"]) == (
            "Alicia",
            "Abbott",
            "online",
        )


def test_a_staff_only_change_shows_up_for_staff_only(people):
    """An email is in staff's entries alone: staff's feed sends it, an ordinary viewer's stays empty."""
    users, clients = people
    olga_cursor = clients["olga"].get(FEED).json()["cursor"]
    boss_cursor = clients["boss"].get(FEED).json()["cursor"]

    response = clients["boss"].patch(f"{ADMIN_USERS}{users['carol'].pk}/", {"email": "carol@new.test"}, format="json")

    assert response.status_code == 200, response.content
    boss_sees = entries(clients["boss"].get(FEED, {"since": boss_cursor}).json())
    assert list(boss_sees) == ["carol"] and boss_sees["carol"]["email"] == "carol@new.test"
    assert clients["olga"].get(FEED, {"since": olga_cursor}).json()["users"] == []


def test_deactivating_and_reactivating_an_offline_user_shows_up_for_staff(people):
    """carol never logged in, so deactivation changes no status: the feed still tells staff she is inactive."""
    users, clients = people
    cursor = clients["boss"].get(FEED).json()["cursor"]

    assert clients["boss"].post(f"{ADMIN_USERS}{users['carol'].pk}/deactivate/", format="json").status_code == 200
    body = clients["boss"].get(FEED, {"since": cursor}).json()
    assert {name: e["is_active"] for name, e in entries(body).items()} == {"carol": False}

    assert clients["boss"].post(f"{ADMIN_USERS}{users['carol'].pk}/activate/", format="json").status_code == 200
    later = clients["boss"].get(FEED, {"since": body["cursor"]}).json()
    assert {name: e["is_active"] for name, e in entries(later).items()} == {"carol": True}


def change_form(user: User, **changes) -> dict:
    """The Django admin's change form for `user` as a browser posts it, with `changes` applied."""
    fields = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        **changes,
    }
    data = {name: value for name, value in fields.items() if not isinstance(value, bool)}
    data.update({name: "on" for name, value in fields.items() if value is True})  # ticked checkboxes only
    if user.last_login:
        local = user.last_login.astimezone()
        data.update({"last_login_0": local.strftime("%Y-%m-%d"), "last_login_1": local.strftime("%H:%M:%S")})
    return data


def test_an_edit_in_the_django_admin_shows_up_and_keeps_presence(people, django_admin):
    users, clients = people
    cursor = clients["olga"].get(FEED).json()["cursor"]
    alice = User.objects.get(pk=users["alice"].pk)

    response = django_admin.post(f"{DJANGO_ADMIN}{alice.pk}/change/", change_form(alice, last_name="Abbott"))

    assert response.status_code == 302, response.content
    seen = entries(clients["olga"].get(FEED, {"since": cursor}).json())
    assert list(seen) == ["alice"] and (seen["alice"]["last_name"], seen["alice"]["online_status"]) == (
        "Abbott",
        "online",
    )


def test_unticking_active_in_the_django_admin_deactivates_like_the_api(people, django_admin):
    """The user's sessions end at once: everyone sees alice offline, staff also inactive; her token stops working."""
    users, clients = people
    olga_cursor = clients["olga"].get(FEED).json()["cursor"]
    boss_cursor = clients["boss"].get(FEED).json()["cursor"]
    alice = User.objects.get(pk=users["alice"].pk)

    response = django_admin.post(f"{DJANGO_ADMIN}{alice.pk}/change/", change_form(alice, is_active=False))

    assert response.status_code == 302, response.content
    assert statuses(clients["olga"].get(FEED, {"since": olga_cursor}).json()) == {"alice": "offline"}
    boss_sees = entries(clients["boss"].get(FEED, {"since": boss_cursor}).json())
    assert (boss_sees["alice"]["online_status"], boss_sees["alice"]["is_active"]) == ("offline", False)
    assert clients["alice"].post(HEARTBEAT, format="json").status_code == 401


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


def test_an_empty_since_is_a_400_not_a_full_read(make_user, device):
    from users.tests.expectations import assert_json_error

    assert_json_error(device(make_user(username="olga")).get(FEED + "?since="), 400)


@pytest.mark.parametrize("path", [FEED, "/api/users/me/", "/api/users/me/presence/", "/api/users/admin/users/"])
def test_per_caller_answers_are_never_cached(client_for, staff, path):
    cache_control = client_for(staff).get(path)["Cache-Control"]
    assert "private" in cache_control and "no-store" in cache_control
