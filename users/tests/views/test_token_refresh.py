"""POST /api/users/token/refresh/ (simplejwt's view with users.serializers.auth.SessionTokenRefreshSerializer)."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from users.tests.expectations import assert_json_error

pytestmark = pytest.mark.django_db

REFRESH = "/api/users/token/refresh/"


@pytest.fixture
def tokens(user, login):
    """The token pair of a fresh login of alice."""
    return login(user)


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_refresh_rotates_the_pair(api, tokens, user):
    """200 {access, refresh}: a new refresh token is issued and the new access token authenticates."""
    response = api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert body["refresh"] != tokens["refresh"]
    assert body["access"] != tokens["access"]
    me = bearer(body["access"]).get("/api/users/me/")
    assert me.status_code == 200 and me.json()["id"] == user.pk


def test_the_rotated_out_refresh_token_is_refused(api, tokens):
    """After rotation the old refresh token is blacklisted: 401; the new one keeps working."""
    rotated = api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").json()

    assert_json_error(api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json"), 401, "token_not_valid")
    assert api.post(REFRESH, {"refresh": rotated["refresh"]}, format="json").status_code == 200


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA", "x" * 5000])
def test_a_garbage_refresh_token_is_401(api, garbage, users_table, user):
    """Anything that is not a signed refresh token is refused with a JSON 401."""
    before = users_table()

    assert_json_error(api.post(REFRESH, {"refresh": garbage}, format="json"), 401, "token_not_valid")
    assert users_table() == before


def test_an_access_token_is_not_accepted_as_refresh(api, tokens):
    """Token type is checked: 401."""
    assert_json_error(api.post(REFRESH, {"refresh": tokens["access"]}, format="json"), 401, "token_not_valid")


def test_an_expired_refresh_token_is_401(api, tokens):
    """A correctly signed refresh token past its expiry is refused."""
    expired = RefreshToken(tokens["refresh"])
    expired.set_exp(from_time=expired.current_time - timedelta(days=30))

    assert_json_error(api.post(REFRESH, {"refresh": str(expired)}, format="json"), 401, "token_not_valid")


def test_refresh_after_logout_is_401(api, tokens):
    """The refresh token blacklisted by logout cannot mint new tokens."""
    bearer(tokens["access"]).post("/api/users/logout/", {"refresh": tokens["refresh"]}, format="json")

    assert_json_error(api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json"), 401)


def test_a_rotated_refresh_token_of_a_logged_out_session_is_401(api, tokens):
    """Logging out with the first pair also ends refresh tokens rotated from it."""
    rotated = api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").json()
    bearer(rotated["access"]).post("/api/users/logout/", {}, format="json")

    assert_json_error(api.post(REFRESH, {"refresh": rotated["refresh"]}, format="json"), 401, "token_revoked")


def test_refresh_for_an_inactive_user_is_401(api, tokens, user):
    """A deactivated account cannot refresh its tokens."""
    type(user).objects.filter(pk=user.pk).update(is_active=False)

    assert_json_error(api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json"), 401, "no_active_account")


def test_refresh_for_a_deleted_user_is_401(api, tokens, user):
    """A token whose user no longer exists is refused, not a 500."""
    type(user).objects.filter(pk=user.pk).delete()

    assert_json_error(api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json"), 401, "user_not_found")


@pytest.mark.parametrize("user_id", ["abc", ["1"], {"id": 1}])
def test_a_signed_refresh_token_with_a_malformed_user_id_is_401(api, tokens, user_id):
    """A non-numeric user id in a validly signed token is a bad token, not a server error."""
    forged = RefreshToken(tokens["refresh"])
    forged["user_id"] = user_id

    assert_json_error(api.post(REFRESH, {"refresh": str(forged)}, format="json"), 401)


@pytest.mark.parametrize("payload", [{}, {"refresh": ""}, {"refresh": None}, {"refresh": {"a": 1}}])
def test_a_missing_or_mistyped_refresh_field_is_400(api, payload):
    """The body must carry `refresh` as a non-empty string."""
    body = assert_json_error(api.post(REFRESH, payload, format="json"), 400, "invalid")
    assert "refresh" in body["errors"]


def test_refresh_does_not_change_presence(api, tokens, user, row, clock):
    """Minting tokens is not activity: the users row is untouched."""
    before = row(user)
    clock.advance(60)

    api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")

    after = row(user)
    assert (after.online_status, after.last_seen) == (before.online_status, before.last_seen)
