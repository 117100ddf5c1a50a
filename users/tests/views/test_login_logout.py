"""POST /api/users/login/ and /api/users/logout/ (users/views/__init__.py)."""

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken

from conftest import PASSWORD
from users.tests.expectations import assert_json_error, iso

pytestmark = pytest.mark.django_db

LOGIN = "/api/users/login/"
LOGOUT = "/api/users/logout/"
REFRESH = "/api/users/token/refresh/"


def blacklisted(refresh: str) -> bool:
    return BlacklistedToken.objects.filter(token__jti=RefreshToken(refresh, verify=False)["jti"]).exists()


# --- login -------------------------------------------------------------------


def test_login_returns_tokens_user_and_presence_intervals_from_settings(api, user, clock, settings, row):
    """200 {access, refresh, user, presence}; presence carries the four intervals the settings define and the socket's path."""
    settings.PRESENCE_HEARTBEAT_SECONDS = 7
    settings.PRESENCE_REFRESH_SECONDS = 3
    settings.PRESENCE_TIMEOUT_SECONDS = 42
    settings.PRESENCE_IDLE_SECONDS = 99

    response = api.post(LOGIN, {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access", "refresh", "user", "presence"}
    assert body["presence"] == {
        "heartbeat_seconds": 7,
        "refresh_seconds": 3,
        "timeout_seconds": 42,
        "idle_seconds": 99,
        "websocket": "/ws/presence/",
        "watch_max": 1000,
    }
    assert body["user"] == {
        "id": user.pk,
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "Alice",
        "last_name": "Archer",
        "is_staff": False,
        "online_status": "online",
        "last_seen": iso(clock.current),
    }
    assert RefreshToken(body["refresh"])["user_id"] == str(user.pk)


def test_login_marks_the_user_online_with_last_seen_now(api, user, clock, row):
    """The users row reads online, last_seen = the login time."""
    assert row(user).online_status == "offline"

    api.post(LOGIN, {"username": "alice", "password": PASSWORD}, format="json")

    stored = row(user)
    assert (stored.online_status, stored.last_seen) == ("online", clock.current)


def test_login_access_token_authenticates_the_user(api, user, login):
    """The access token from login works as `Authorization: Bearer` on the API."""
    tokens = login(user)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")

    response = api.get("/api/users/me/")

    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_login_failures_are_401_with_one_body_whether_or_not_the_user_exists(api, make_user, users_table):
    """Unknown user, wrong password and inactive user all get the same 401 body, and nobody goes online."""
    make_user(username="carol")
    make_user(username="dormant", is_active=False)
    before = users_table()

    responses = [
        api.post(LOGIN, {"username": "nobody", "password": PASSWORD}, format="json"),
        api.post(LOGIN, {"username": "carol", "password": "wrong-password"}, format="json"),
        api.post(LOGIN, {"username": "dormant", "password": PASSWORD}, format="json"),
    ]

    bodies = [assert_json_error(r, 401) for r in responses]
    assert (
        bodies[0] == bodies[1] == bodies[2] == {"detail": "Invalid username or password.", "code": "no_active_account"}
    )
    assert all(r.has_header("WWW-Authenticate") for r in responses)
    assert users_table() == before


@pytest.mark.parametrize(
    "payload, missing",
    [({}, {"username", "password"}), ({"username": "alice"}, {"password"}), ({"password": PASSWORD}, {"username"})],
)
def test_login_with_missing_fields_is_400_naming_them(api, user, users_table, payload, missing):
    """A missing username or password is a 400 whose `errors` name each missing field; no row changes."""
    before = users_table()

    response = api.post(LOGIN, payload, format="json")

    body = assert_json_error(response, 400, "invalid")
    assert set(body["errors"]) == missing
    assert users_table() == before


@pytest.mark.parametrize("username", ["\r", "   "])
def test_a_username_of_only_spaces_is_400_as_the_schema_says(api, user, users_table, username):
    """Usernames are trimmed, so one of only spaces is blank: the schema's `pattern: \\S` rules it out too."""
    before = users_table()

    response = api.post(LOGIN, {"username": username, "password": PASSWORD}, format="json")

    assert set(assert_json_error(response, 400, "invalid")["errors"]) == {"username"}
    assert users_table() == before


def test_a_password_with_spaces_at_its_ends_logs_in_only_as_it_was_set(api, make_user, row):
    """Spaces are part of a password (Django's forms keep them): login neither trims them nor accepts it trimmed."""
    spaced = make_user(username="spacey")
    spaced.set_password("  two spaces each side  ")
    spaced.save(update_fields=["password"])

    trimmed = api.post(LOGIN, {"username": "spacey", "password": "two spaces each side"}, format="json")
    assert_json_error(trimmed, 401, "no_active_account")
    assert row(spaced).online_status == "offline"

    exact = api.post(LOGIN, {"username": "spacey", "password": "  two spaces each side  "}, format="json")
    assert exact.status_code == 200, exact.content
    assert row(spaced).online_status == "online"


def test_login_works_despite_a_stale_authorization_header(user, client_for, row):
    """A client still sending a logged-out access token can log in again (login ignores the header)."""
    client = client_for(user)
    assert client.post(LOGOUT, {}, format="json").status_code == 200

    response = client.post(LOGIN, {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 200, response.content
    assert row(user).online_status == "online"


# --- logout ------------------------------------------------------------------


def test_logout_marks_offline_and_blacklists_the_refresh_token(user, client_for, clock, row):
    """200; the row reads offline with last_seen = logout time; the refresh token is blacklisted."""
    client = client_for(user)
    clock.advance(5)

    response = client.post(LOGOUT, {"refresh": client.tokens["refresh"]}, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {"detail": "Logged out.", "online_status": "offline"}
    stored = row(user)
    assert (stored.online_status, stored.last_seen) == ("offline", clock.current)
    assert blacklisted(client.tokens["refresh"])


def test_late_heartbeat_after_logout_is_refused_and_user_stays_offline(user, client_for, clock, row):
    """The session's access token is refused after logout: a late heartbeat gets 401 and cannot revive the user."""
    client = client_for(user)
    client.post(LOGOUT, {"refresh": client.tokens["refresh"]}, format="json")
    logged_out = row(user)
    clock.advance(20)  # past the touch interval, so any write would show

    response = client.post("/api/users/heartbeat/", format="json")

    assert_json_error(response, 401, "token_revoked")
    stored = row(user)
    assert (stored.online_status, stored.last_seen) == ("offline", logged_out.last_seen)


def test_logout_without_refresh_still_revokes_the_access_token(user, client_for, row):
    """No refresh in the body: 200, offline, and the calling access token is refused from then on."""
    client = client_for(user)

    response = client.post(LOGOUT, {}, format="json")

    assert response.status_code == 200, response.content
    assert row(user).online_status == "offline"
    assert_json_error(client.get("/api/users/me/"), 401, "token_revoked")


def test_logout_without_refresh_also_ends_the_sessions_refresh_token(user, client_for, api):
    """The refresh token of the logged-out session can no longer mint access tokens."""
    client = client_for(user)
    client.post(LOGOUT, {}, format="json")

    response = api.post(REFRESH, {"refresh": client.tokens["refresh"]}, format="json")

    assert_json_error(response, 401)


def test_second_logout_with_the_same_tokens_is_harmless(user, client_for, row, users_table):
    """Repeating the call: 401 (its access token is revoked), nothing changes, the refresh stays blacklisted once."""
    client = client_for(user)
    payload = {"refresh": client.tokens["refresh"]}
    client.post(LOGOUT, payload, format="json")
    before = users_table()

    response = client.post(LOGOUT, payload, format="json")

    assert_json_error(response, 401, "token_revoked")
    assert users_table() == before
    assert BlacklistedToken.objects.count() == 1


def test_logout_from_a_new_session_with_an_old_blacklisted_refresh_is_accepted(user, client_for, row):
    """An already-blacklisted refresh token of the same user does not make logout fail; the user ends offline."""
    first = client_for(user)
    first.post(LOGOUT, {"refresh": first.tokens["refresh"]}, format="json")
    second = client_for(user)
    assert row(user).online_status == "online"

    response = second.post(LOGOUT, {"refresh": first.tokens["refresh"]}, format="json")

    assert response.status_code == 200, response.content
    assert row(user).online_status == "offline"
    assert BlacklistedToken.objects.count() == 1
    assert_json_error(second.get("/api/users/me/"), 401, "token_revoked")


def test_logout_with_another_users_refresh_is_400_and_changes_nothing(user, make_user, client_for, api, users_table):
    """400; the caller stays online with a working token, and the other user's refresh token still works."""
    client = client_for(user)
    other = client_for(make_user(username="bob"))
    before = users_table()

    response = client.post(LOGOUT, {"refresh": other.tokens["refresh"]}, format="json")

    body = assert_json_error(response, 400, "invalid")
    assert body["errors"] == {"refresh": ["Token belongs to another user."]}
    assert users_table() == before
    assert BlacklistedToken.objects.count() == 0
    assert client.get("/api/users/me/").status_code == 200
    assert api.post(REFRESH, {"refresh": other.tokens["refresh"]}, format="json").status_code == 200


@pytest.mark.parametrize("refresh", ["garbage", "a.b.c"])
def test_logout_with_an_invalid_refresh_is_400_and_changes_nothing(user, client_for, users_table, refresh):
    """A refresh that is not a valid token is rejected before anything is revoked."""
    client = client_for(user)
    before = users_table()

    response = client.post(LOGOUT, {"refresh": refresh}, format="json")

    body = assert_json_error(response, 400, "invalid")
    assert "refresh" in body["errors"]
    assert users_table() == before
    assert client.get("/api/users/me/").status_code == 200


def test_logout_with_an_access_token_in_place_of_the_refresh_is_400(user, client_for, users_table):
    """Only a refresh token is accepted in the body."""
    client = client_for(user)
    before = users_table()

    response = client.post(LOGOUT, {"refresh": client.tokens["access"]}, format="json")

    body = assert_json_error(response, 400, "invalid")
    assert body["errors"] == {"refresh": ["Token is not a refresh token."]}
    assert users_table() == before


def test_logout_requires_authentication(api, user, login, users_table):
    """Anonymous logout is 401 and leaves the logged-in user online."""
    tokens = login(user)
    before = users_table()

    response = api.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")

    assert_json_error(response, 401, "not_authenticated")
    assert users_table() == before
    assert BlacklistedToken.objects.count() == 0


def test_logout_ends_only_the_calling_session(user, client_for):
    """Another device's session keeps authenticating after one device logs out."""
    laptop = client_for(user)
    phone = client_for(user)

    laptop.post(LOGOUT, {"refresh": laptop.tokens["refresh"]}, format="json")

    assert laptop.get("/api/users/me/").status_code == 401
    assert phone.get("/api/users/me/").status_code == 200


def test_logout_after_a_token_refresh_revokes_the_whole_session(user, client_for, api):
    """Rotated tokens share the login session: logging out with the new pair also refuses the first access token."""
    client = client_for(user)
    rotated = api.post(REFRESH, {"refresh": client.tokens["refresh"]}, format="json").json()
    newer = APIClient()
    newer.credentials(HTTP_AUTHORIZATION=f"Bearer {rotated['access']}")

    assert newer.post(LOGOUT, {"refresh": rotated["refresh"]}, format="json").status_code == 200

    assert_json_error(newer.get("/api/users/me/"), 401, "token_revoked")
    assert_json_error(client.get("/api/users/me/"), 401, "token_revoked")
