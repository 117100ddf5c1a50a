"""Heartbeat, me, and staff user management (users/views/user_management_views.py)."""

import pytest
from django.db import connection

from conftest import PASSWORD
from users.models import User
from users.tests.expectations import assert_json_error, iso

pytestmark = pytest.mark.django_db

HEARTBEAT = "/api/users/heartbeat/"
ME = "/api/users/me/"
ADMIN_USERS = "/api/users/admin/users/"


@pytest.fixture
def alice(user, client_for):
    """Alice, logged in (an ordinary user)."""
    return client_for(user)


@pytest.fixture
def boss(staff, client_for):
    """Boss, logged in (staff)."""
    return client_for(staff)


# --- heartbeat -----------------------------------------------------------------


def test_heartbeat_returns_online_and_last_seen_and_writes_them(user, alice, clock, row):
    """200 {online_status, last_seen}; the row matches the body."""
    clock.advance(30)

    response = alice.post(HEARTBEAT, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {"online_status": "online", "last_seen": iso(clock.current)}
    stored = row(user)
    assert (stored.online_status, stored.last_seen) == ("online", clock.current)


def test_heartbeat_brings_a_swept_user_back_online(user, alice, clock, row, set_presence):
    """A user the sweep marked offline, still holding a valid token, is online again after a heartbeat."""
    set_presence(user, online_status="offline", last_seen=clock.ago(300))

    alice.post(HEARTBEAT, format="json")

    stored = row(user)
    assert (stored.online_status, stored.last_seen) == ("online", clock.current)


def test_heartbeat_accepts_an_empty_json_object(alice):
    """`{}` is a valid heartbeat body."""
    assert alice.post(HEARTBEAT, {}, format="json").status_code == 200


def test_heartbeat_requires_authentication(api, user, users_table):
    """Anonymous: 401, nothing written."""
    before = users_table()

    assert_json_error(api.post(HEARTBEAT, format="json"), 401, "not_authenticated")
    assert users_table() == before


def test_heartbeat_from_a_deactivated_account_is_refused(user, alice, boss, row):
    """After deactivation the user's token gets 401 and the heartbeat cannot bring them online."""
    boss.post(f"{ADMIN_USERS}{user.pk}/deactivate/", format="json")

    assert_json_error(alice.post(HEARTBEAT, format="json"), 401, "user_inactive")
    assert row(user).online_status == "offline"


@pytest.mark.parametrize("crowd_size", [5, 200])
def test_a_settled_heartbeat_is_a_fixed_handful_of_queries(user, alice, clock, crowd, row, capture_queries, crowd_size):
    """Load the caller, then refresh its session and raise the user, with 5 or 200 other users (half stale and online).

    PostgreSQL does both writes in one precompiled statement; SQLite in one transaction of two UPDATEs.
    """
    crowd(crowd_size // 2, prefix="fresh", online_status="online", last_seen=clock.current)
    crowd(crowd_size - crowd_size // 2, prefix="stale", online_status="online", last_seen=clock.ago(3600))
    clock.advance(60)  # the caller's last_seen is stale too, so the middleware would write if it did not know

    with capture_queries() as captured:
        response = alice.post(HEARTBEAT, format="json")

    assert response.status_code == 200
    sql = [
        " ".join(q["sql"].split()[:2]).upper() for q in captured.captured_queries if "SAVEPOINT" not in q["sql"].upper()
    ]
    if connection.vendor == "postgresql":
        assert sql == ['SELECT "USERS"."ID",', "WITH REFRESHED"], captured.captured_queries
    else:
        assert sql == ['SELECT "USERS"."ID",', 'UPDATE "PRESENCE_SESSIONS"', 'UPDATE "USERS"'], (
            captured.captured_queries
        )
        (users_update,) = [q["sql"] for q in captured.captured_queries if q["sql"].startswith('UPDATE "users"')]
        # A user already settled online takes the short UPDATE: no change position, no CASE to compile.
        assert "CASE" not in users_update.upper()
    stored = row(user)
    assert (stored.online_status, stored.last_seen, stored.last_active) == ("online", clock.current, clock.current)
    assert user.presence_sessions.get().last_seen == clock.current


# --- me ------------------------------------------------------------------------


def test_me_returns_the_caller(clock, user, alice):
    """GET /me/ describes the caller, with the effective status."""
    response = alice.get(ME)

    assert response.status_code == 200
    assert response.json() == {
        "id": user.pk,
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "Alice",
        "last_name": "Archer",
        "is_staff": False,
        "online_status": "online",
        "last_seen": iso(clock.current),
    }


def test_me_requires_authentication(api):
    assert_json_error(api.get(ME), 401, "not_authenticated")


# --- staff user management: access ---------------------------------------------

ADMIN_CALLS = [
    ("get", lambda target: ADMIN_USERS, None),
    ("post", lambda target: ADMIN_USERS, {"username": "mallory", "password": "Another-pass-99"}),
    ("get", lambda target: f"{ADMIN_USERS}{target.pk}/", None),
    ("put", lambda target: f"{ADMIN_USERS}{target.pk}/", {"username": "renamed"}),
    ("patch", lambda target: f"{ADMIN_USERS}{target.pk}/", {"first_name": "Eve", "is_staff": True}),
    ("post", lambda target: f"{ADMIN_USERS}{target.pk}/deactivate/", None),
    ("post", lambda target: f"{ADMIN_USERS}{target.pk}/activate/", None),
    ("get", lambda target: f"{ADMIN_USERS}online/", None),
]
CALL_IDS = ["list", "create", "retrieve", "update", "partial_update", "deactivate", "activate", "online"]


@pytest.mark.parametrize("method, path, payload", ADMIN_CALLS, ids=CALL_IDS)
def test_admin_endpoints_are_403_for_non_staff(alice, staff, users_table, method, path, payload):
    """An ordinary user gets a JSON 403 from every admin endpoint and changes nothing."""
    before = users_table()

    response = getattr(alice, method)(path(staff), payload, format="json")

    assert_json_error(response, 403, "permission_denied")
    assert users_table() == before


@pytest.mark.parametrize("method, path, payload", ADMIN_CALLS, ids=CALL_IDS)
def test_admin_endpoints_are_401_for_anonymous(api, staff, users_table, method, path, payload):
    """No token: a JSON 401 from every admin endpoint, nothing changed."""
    before = users_table()

    response = getattr(api, method)(path(staff), payload, format="json")

    assert_json_error(response, 401, "not_authenticated")
    assert users_table() == before


# --- staff user management: behaviour ------------------------------------------


def test_admin_list_returns_every_user_with_account_and_presence_fields(user, staff, boss):
    """200, ordered by id, with email, is_active and the effective status; never the password."""
    response = boss.get(ADMIN_USERS)

    assert response.status_code == 200
    body = response.json()
    assert [u["username"] for u in body] == ["alice", "boss"]
    assert set(body[0]) == {
        "id",
        "username",
        "email",
        "first_name",
        "last_name",
        "is_staff",
        "is_active",
        "online_status",
        "last_seen",
        "date_joined",
    }
    assert body[0]["email"] == "alice@example.com" and body[0]["is_active"] is True
    assert body[0]["online_status"] == "offline"  # alice never logged in
    assert body[1]["online_status"] == "online"


def test_admin_create_makes_an_offline_user_who_can_log_in(boss, api):
    """201; the new row is offline with no last_seen, the password is hashed and works for login."""
    response = boss.post(
        ADMIN_USERS,
        {"username": "dave", "password": "Dave-pass-1234", "email": "dave@example.com", "first_name": "Dave"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert "password" not in body
    assert (body["username"], body["online_status"], body["last_seen"], body["is_active"]) == (
        "dave",
        "offline",
        None,
        True,
    )
    stored = User.objects.get(username="dave")
    assert (stored.email, stored.first_name, stored.online_status, stored.last_seen) == (
        "dave@example.com",
        "Dave",
        "offline",
        None,
    )
    assert stored.password != "Dave-pass-1234" and stored.check_password("Dave-pass-1234")
    assert (
        api.post("/api/users/login/", {"username": "dave", "password": "Dave-pass-1234"}, format="json").status_code
        == 200
    )


def test_admin_create_ignores_presence_and_activation_fields(boss):
    """online_status, last_seen and is_active are read-only: a new user starts offline and active."""
    response = boss.post(
        ADMIN_USERS,
        {
            "username": "erin",
            "password": "Erin-pass-1234",
            "online_status": "online",
            "last_seen": "2030-01-01T00:00:00Z",
            "is_active": False,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    stored = User.objects.get(username="erin")
    assert (stored.online_status, stored.last_seen, stored.is_active) == ("offline", None, True)


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"username": "frank"}, "password"),
        ({"username": "frank", "password": "short"}, "password"),
        ({"username": "frank", "password": "password123"}, "password"),
        ({"username": "frank", "password": "83920571649"}, "password"),
        ({"username": "alice", "password": "Long-enough-1"}, "username"),
        ({"password": "Long-enough-1"}, "username"),
    ],
    ids=["no-password", "short-password", "common-password", "numeric-password", "duplicate-username", "no-username"],
)
def test_admin_create_rejects_bad_input_with_400(boss, user, users_table, payload, field):
    """Missing or invalid fields: 400 naming the field, no row added."""
    before = users_table()

    body = assert_json_error(boss.post(ADMIN_USERS, payload, format="json"), 400, "invalid")

    assert field in body["errors"]
    assert users_table() == before


def test_admin_retrieve_returns_one_user(boss, user):
    response = boss.get(f"{ADMIN_USERS}{user.pk}/")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["email"]) == (user.pk, "alice@example.com")


def test_admin_retrieve_of_an_unknown_id_is_a_json_404(boss):
    assert_json_error(boss.get(f"{ADMIN_USERS}999999/"), 404, "not_found")


def test_admin_partial_update_changes_account_fields(boss, user, row):
    """PATCH first_name, email, is_staff: 200 and the row holds the new values."""
    response = boss.patch(
        f"{ADMIN_USERS}{user.pk}/",
        {"first_name": "Alicia", "email": "alicia@example.com", "is_staff": True},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["first_name"] == "Alicia"
    stored = row(user)
    assert (stored.first_name, stored.email, stored.is_staff) == ("Alicia", "alicia@example.com", True)


def test_admin_update_cannot_write_presence_or_activation(boss, user, row, clock, set_presence):
    """online_status, last_seen and is_active in a PATCH are ignored: they change only through services."""
    set_presence(user, online_status="offline", last_seen=clock.ago(600))

    response = boss.patch(
        f"{ADMIN_USERS}{user.pk}/",
        {"online_status": "online", "last_seen": "2030-01-01T00:00:00Z", "is_active": False},
        format="json",
    )

    assert response.status_code == 200
    stored = row(user)
    assert (stored.online_status, stored.last_seen, stored.is_active) == ("offline", clock.ago(600), True)


def test_admin_update_sets_a_new_password(boss, user, api, row):
    """A password in PATCH is hashed; the new one logs in and the old one no longer does."""
    assert boss.patch(f"{ADMIN_USERS}{user.pk}/", {"password": "Brand-new-pass-1"}, format="json").status_code == 200

    assert row(user).check_password("Brand-new-pass-1")
    assert api.post("/api/users/login/", {"username": "alice", "password": PASSWORD}, format="json").status_code == 401
    assert (
        api.post("/api/users/login/", {"username": "alice", "password": "Brand-new-pass-1"}, format="json").status_code
        == 200
    )


def test_admin_full_update_replaces_fields(boss, user, row):
    """PUT with a new username renames the user and keeps the password."""
    response = boss.put(f"{ADMIN_USERS}{user.pk}/", {"username": "alice2", "email": ""}, format="json")

    assert response.status_code == 200, response.content
    stored = row(user)
    assert (stored.username, stored.email) == ("alice2", "")
    assert stored.check_password(PASSWORD)


def test_admin_deactivate_takes_the_user_offline_and_revokes_access(boss, user, alice, clock, row, api):
    """200 with is_active false and offline; the row agrees; the user's token and password stop working."""
    clock.advance(10)

    response = boss.post(f"{ADMIN_USERS}{user.pk}/deactivate/", format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["is_active"], response.json()["online_status"]) == (False, "offline")
    stored = row(user)
    assert (stored.is_active, stored.online_status, stored.last_seen) == (False, "offline", clock.current)
    assert_json_error(alice.get(ME), 401, "user_inactive")
    assert_json_error(api.post("/api/users/login/", {"username": "alice", "password": PASSWORD}, format="json"), 401)


def test_admin_cannot_deactivate_themself(boss, staff, row):
    """400, and the staff account stays active and online."""
    assert_json_error(boss.post(f"{ADMIN_USERS}{staff.pk}/deactivate/", format="json"), 400, "invalid")

    stored = row(staff)
    assert (stored.is_active, stored.online_status) == (True, "online")


def test_admin_activate_restores_the_account_but_not_presence(boss, user, alice, row, api):
    """200 with is_active true; the user stays offline until they log in, and then can."""
    boss.post(f"{ADMIN_USERS}{user.pk}/deactivate/", format="json")

    response = boss.post(f"{ADMIN_USERS}{user.pk}/activate/", format="json")

    assert response.status_code == 200
    assert (response.json()["is_active"], response.json()["online_status"]) == (True, "offline")
    stored = row(user)
    assert (stored.is_active, stored.online_status) == (True, "offline")
    assert api.post("/api/users/login/", {"username": "alice", "password": PASSWORD}, format="json").status_code == 200
    assert row(user).online_status == "online"


def test_admin_online_lists_only_effectively_online_users(boss, make_user, clock, set_presence, settings):
    """Fresh online users, most recent first; stale-but-stored-online and offline users are left out."""
    settings.PRESENCE_TIMEOUT_SECONDS = 120
    recent, older, stale, gone = (make_user(username=n) for n in ("recent", "older", "stale", "gone"))
    set_presence(recent, online_status="online", last_seen=clock.ago(5))
    set_presence(older, online_status="online", last_seen=clock.ago(60))
    set_presence(stale, online_status="online", last_seen=clock.ago(121))
    set_presence(gone, online_status="offline", last_seen=clock.ago(1))

    response = boss.get(f"{ADMIN_USERS}online/")

    assert response.status_code == 200
    assert [u["username"] for u in response.json()] == ["boss", "recent", "older"]
    assert {u["online_status"] for u in response.json()} == {"online"}
    assert User.objects.get(pk=stale.pk).online_status == "online"  # a read never writes


def test_admin_users_cannot_be_deleted(boss, user, row):
    """Users are deactivated, never deleted: DELETE is a JSON 405 and the row stays."""
    assert_json_error(boss.delete(f"{ADMIN_USERS}{user.pk}/"), 405, "method_not_allowed")
    assert row(user).is_active
