"""Every error is JSON with the right 4xx code, and bad input changes nobody's row (users/api_errors.py)."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from users.models import User
from users.tests.expectations import assert_json_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(clock, user, staff, client_for, set_presence):
    """Alice and boss logged in, then alice marked offline in the table, so a stray heartbeat would show.

    Both last_seen values are fresh, so the touch middleware has no reason to write either:
    the tests can require the users table to be identical after a rejected request.
    Returns the clients by role: anonymous, alice (user), boss (staff).
    """
    clients = {"anon": APIClient(), "user": client_for(user), "staff": client_for(staff)}
    set_presence(user, online_status="offline", last_seen=clock.current)
    return clients


def unchanged(users_table):
    """Context: the users table is identical after the block."""

    class Unchanged:
        def __enter__(self):
            self.before = users_table()

        def __exit__(self, *exc_info):
            if exc_info[0] is None:
                assert users_table() == self.before, "a rejected request changed the users table"

    return Unchanged()


WRITE_ENDPOINTS = [
    ("anon", "/api/users/login/"),
    ("anon", "/api/users/token/refresh/"),
    ("user", "/api/users/heartbeat/"),
    ("user", "/api/users/logout/"),
    ("staff", "/api/users/admin/users/"),
]
WRITE_IDS = ["login", "token-refresh", "heartbeat", "logout", "admin-create"]


@pytest.mark.parametrize("who, path", WRITE_ENDPOINTS, ids=WRITE_IDS)
@pytest.mark.parametrize("raw", [b"{bad json", b'{"username": "alice",}', b"\xff\xfe", b"[1, 2"])
def test_malformed_json_is_a_json_400(session, users_table, who, path, raw):
    with unchanged(users_table):
        response = session[who].generic("POST", path, raw, content_type="application/json")

    body = assert_json_error(response, 400, "parse_error")
    assert body["detail"].startswith("JSON parse error")


@pytest.mark.parametrize("who, path", WRITE_ENDPOINTS, ids=WRITE_IDS)
@pytest.mark.parametrize(
    "content_type, raw",
    [
        ("application/x-www-form-urlencoded", b"username=alice&password=x"),
        ("text/plain", b"hello"),
        ("multipart/form-data; boundary=x", b"--x--"),
    ],
)
def test_a_body_that_is_not_json_is_a_json_415(session, users_table, who, path, content_type, raw):
    with unchanged(users_table):
        response = session[who].generic("POST", path, raw, content_type=content_type)

    assert_json_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "who, path, payload, field",
    [
        ("anon", "/api/users/login/", {"username": ["alice"], "password": "x"}, "username"),
        ("anon", "/api/users/login/", {"username": "alice", "password": {"p": 1}}, "password"),
        ("anon", "/api/users/login/", {"username": None, "password": None}, "username"),
        ("anon", "/api/users/login/", ["alice", "x"], "non_field_errors"),
        ("anon", "/api/users/token/refresh/", {"refresh": ["x"]}, "refresh"),
        ("user", "/api/users/heartbeat/", [1], "non_field_errors"),
        ("user", "/api/users/heartbeat/", "alive", "non_field_errors"),
        ("user", "/api/users/logout/", {"refresh": {"token": "x"}}, "refresh"),
        ("user", "/api/users/logout/", {"refresh": 123}, "refresh"),
        ("staff", "/api/users/admin/users/", {"username": ["x"], "password": "Long-enough-1"}, "username"),
        (
            "staff",
            "/api/users/admin/users/",
            {"username": "x", "password": "Long-enough-1", "is_staff": "maybe"},
            "is_staff",
        ),
    ],
)
def test_wrong_types_are_a_json_400_naming_the_field(session, users_table, who, path, payload, field):
    with unchanged(users_table):
        response = session[who].post(path, payload, format="json")

    body = assert_json_error(response, 400, "invalid")
    assert field in body["errors"]


def test_a_wrong_type_in_an_admin_update_is_a_json_400(session, user, users_table):
    with unchanged(users_table):
        response = session["staff"].patch(f"/api/users/admin/users/{user.pk}/", {"is_staff": [1]}, format="json")

    assert "is_staff" in assert_json_error(response, 400, "invalid")["errors"]


# --- tokens --------------------------------------------------------------------


def signed_access(user, **claims) -> str:
    """An access token signed with the real key, with claims overridden (None deletes a claim)."""
    token = AccessToken.for_user(user)
    for claim, value in claims.items():
        if value is None:
            del token[claim]
        else:
            token[claim] = value
    return str(token)


def expired_access(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(from_time=token.current_time - timedelta(hours=1))
    return str(token)


BAD_AUTHORIZATION = {
    "garbage": lambda user, tokens: "Bearer garbage",
    "three-dots": lambda user, tokens: "Bearer a.b.c",
    "no-token": lambda user, tokens: "Bearer",
    "two-tokens": lambda user, tokens: f"Bearer {tokens['access']} extra",
    "expired": lambda user, tokens: f"Bearer {expired_access(user)}",
    "tampered": lambda user, tokens: f"Bearer {tokens['access'][:-4]}AAAA",
    "refresh-as-access": lambda user, tokens: f"Bearer {tokens['refresh']}",
    "no-user-id": lambda user, tokens: f"Bearer {signed_access(user, user_id=None)}",
    "unknown-user": lambda user, tokens: f"Bearer {signed_access(user, user_id='999999')}",
    "non-numeric-user-id": lambda user, tokens: f"Bearer {signed_access(user, user_id='abc')}",
    "list-user-id": lambda user, tokens: f"Bearer {signed_access(user, user_id=['1'])}",
    "other-scheme": lambda user, tokens: f"Token {tokens['access']}",
}


@pytest.mark.parametrize(
    "path, method", [("/api/users/heartbeat/", "post"), ("/api/users/me/", "get"), ("/api/users/all-users/", "get")]
)
@pytest.mark.parametrize("kind", BAD_AUTHORIZATION)
def test_a_bad_or_expired_token_is_a_json_401_and_writes_nothing(session, user, users_table, path, method, kind):
    """Garbage, expired, tampered, wrong-type and malformed tokens: 401 with WWW-Authenticate, no row changed."""
    header = BAD_AUTHORIZATION[kind](user, session["user"].tokens)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    with unchanged(users_table):
        response = getattr(client, method)(path, format="json")

    assert_json_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_missing_token_is_a_json_401(session, users_table):
    with unchanged(users_table):
        response = session["anon"].post("/api/users/heartbeat/", format="json")

    assert_json_error(response, 401, "not_authenticated")
    assert response["Content-Type"] == "application/json"


def test_the_token_of_a_deleted_user_is_a_json_401(session, make_user, client_for, users_table):
    gone = make_user(username="gone")
    client = client_for(gone)
    User.objects.filter(pk=gone.pk).delete()

    with unchanged(users_table):
        assert_json_error(client.post("/api/users/heartbeat/", format="json"), 401, "user_not_found")


# --- routes and methods ----------------------------------------------------------


@pytest.mark.parametrize("who", ["anon", "user"])
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("path", ["/api/whatever", "/api/users/nope/", "/api/", "/api/users/admin/users/1/x/"])
def test_an_unknown_route_is_a_json_404(session, users_table, who, method, path):
    with unchanged(users_table):
        response = getattr(session[who], method)(path)

    assert_json_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "who, method, path",
    [
        ("anon", "get", "/api/users/login/"),
        ("anon", "get", "/api/users/token/refresh/"),
        ("user", "get", "/api/users/logout/"),
        ("user", "get", "/api/users/heartbeat/"),
        ("user", "post", "/api/users/me/"),
        ("user", "put", "/api/users/all-users/"),
        ("staff", "delete", "/api/users/admin/users/{user}/"),
        ("staff", "get", "/api/users/admin/users/{user}/deactivate/"),
        ("staff", "post", "/api/users/admin/users/online/"),
    ],
)
def test_a_wrong_method_is_a_json_405(session, user, users_table, who, method, path):
    with unchanged(users_table):
        response = getattr(session[who], method)(path.format(user=user.pk), format="json")

    assert_json_error(response, 405, "method_not_allowed")
    assert response.has_header("Allow")


@pytest.fixture
def csrf_checking():
    """A client that enforces CSRF as a browser's would meet it (the test client skips the check by default)."""
    return APIClient(enforce_csrf_checks=True)


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize(
    "path", ["/api/nothing-here/", "/api/users/login", "/api/users/heartbeat/extra/", "/api/users/me/presence"]
)
def test_unsafe_methods_on_unknown_api_paths_are_a_json_404_not_a_csrf_page(
    session, csrf_checking, users_table, settings, debug, method, path
):
    settings.DEBUG = debug
    with unchanged(users_table):
        response = getattr(csrf_checking, method)(path, {}, format="json")
    assert_json_error(response, 404, "not_found")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/livez", "/metrics"])
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_probes_and_metrics_answer_other_methods_with_a_json_405(csrf_checking, path, method):
    response = getattr(csrf_checking, method)(path)
    assert_json_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


@pytest.mark.parametrize("path", ["/healthz", "/livez"])
def test_probes_answer_head(api, path):
    assert api.head(path).status_code == 200


def test_a_body_over_the_limit_is_a_json_413_under_debug_too(session, settings, users_table):
    settings.DEBUG = True
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    with unchanged(users_table):
        response = session["user"].post(
            "/api/users/login/", '{"username": "' + "x" * 5000 + '"}', content_type="application/json"
        )
    assert_json_error(response, 413, "request_too_large")


@pytest.mark.parametrize("field", ["username", "first_name", "last_name"])
def test_an_admin_create_with_a_number_for_text_is_a_json_400(session, users_table, field):
    body = {"username": "numbers", "password": "Numbers-pass-42", field: 12345}
    with unchanged(users_table):
        response = session["staff"].post("/api/users/admin/users/", body, format="json")
    assert_json_error(response, 400)
    assert field in response.json()["errors"]
