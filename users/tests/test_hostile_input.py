"""Hostile and malformed requests, one table: each gets its documented 4xx JSON error and changes no row.

Beside test_api_errors.py (malformed JSON, non-JSON content types, wrong field types, bad Bearer
values, unknown routes): this table adds huge and pathological bodies, unicode and control
characters, SQL-looking strings, forged tokens (alg none, another key, another algorithm, no exp),
tokens of the wrong type in bodies, and exotic routes and methods.
"""

import base64
import json
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from users.models import RevokedSession
from users.tests.expectations import assert_json_error

pytestmark = pytest.mark.django_db

LOGIN, REFRESH, LOGOUT, HEARTBEAT = (
    "/api/users/login/",
    "/api/users/token/refresh/",
    "/api/users/logout/",
    "/api/users/heartbeat/",
)
ME, ALL_USERS, ADMIN_USERS = "/api/users/me/", "/api/users/all-users/", "/api/users/admin/users/"
HUGE = 70_000  # over DATA_UPLOAD_MAX_MEMORY_SIZE (64 KiB)


def b64(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def claims_of(user) -> dict:
    token = AccessToken.for_user(user)
    return dict(token.payload)


def forged(user, kind: str) -> str:
    """A token built outside simplejwt: the ways an attacker would try to get one accepted."""
    claims = claims_of(user)
    if kind == "alg-none":
        return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    if kind == "alg-none-uppercase":
        return f"{b64({'alg': 'NONE', 'typ': 'JWT'})}.{b64(claims)}."
    if kind == "other-key":
        return jwt.encode(claims, "an-attacker's-key-0123456789abcdef0123456789", algorithm="HS256")
    if kind == "other-algorithm":
        return jwt.encode(claims, settings.SECRET_KEY, algorithm="HS512")
    if kind == "no-exp":
        claims.pop("exp")
        return jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256")
    if kind == "not-yet-valid":
        claims["nbf"] = claims["iat"] + int(timedelta(days=1).total_seconds())
        return jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256")
    if kind == "token-type-missing":
        claims.pop("token_type")
        return jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256")
    raise LookupError(kind)


@pytest.fixture
def world(clock, user, staff, client_for, set_presence):
    """Alice (user) and boss (staff) logged in; alice's row then set offline with a fresh last_seen,
    so a request that wrongly marked her online or touched her would show in the table."""
    clients = {"anon": APIClient(), "user": client_for(user), "staff": client_for(staff)}
    set_presence(user, online_status="offline", last_seen=clock.current)
    return clients


def snapshot(users_table):
    return users_table(), RevokedSession.objects.count()


# (id, who, method, path, body (bytes: raw JSON; str: a token kind; dict: JSON), status, code)
TABLE = [
    # --- huge and pathological bodies
    (
        "huge-login",
        "anon",
        "post",
        LOGIN,
        b'{"username": "' + b"a" * HUGE + b'", "password": "x"}',
        413,
        "request_too_large",
    ),
    ("huge-heartbeat", "user", "post", HEARTBEAT, b'{"pad": "' + b"x" * HUGE + b'"}', 413, "request_too_large"),
    (
        "huge-admin-create",
        "staff",
        "post",
        ADMIN_USERS,
        b'{"username": "big", "first_name": "' + b"y" * HUGE + b'"}',
        413,
        "request_too_large",
    ),
    ("huge-refresh", "anon", "post", REFRESH, b'{"refresh": "' + b"z" * HUGE + b'"}', 413, "request_too_large"),
    ("deeply-nested-array", "anon", "post", LOGIN, b"[" * 50_000, 400, "parse_error"),
    ("deeply-nested-object", "user", "post", HEARTBEAT, b'{"a":' * 10_000 + b"1" + b"}" * 10_000, 400, "parse_error"),
    ("nan-literal", "anon", "post", LOGIN, b'{"username": NaN, "password": "x"}', 400, "parse_error"),
    ("infinity-literal", "user", "post", HEARTBEAT, b'{"x": Infinity}', 400, "parse_error"),
    (
        "5000-digit-number",
        "anon",
        "post",
        LOGIN,
        b'{"username": ' + b"9" * 5000 + b', "password": "x"}',
        400,
        "parse_error",
    ),
    ("empty-body-login", "anon", "post", LOGIN, b"", 400, "invalid"),
    ("json-null-body", "anon", "post", LOGIN, b"null", 400, "invalid"),
    ("json-string-body", "staff", "post", ADMIN_USERS, b'"just a string"', 400, "invalid"),
    (
        "utf16-body",
        "anon",
        "post",
        LOGIN,
        '{"username": "alice", "password": "x"}'.encode("utf-16"),
        400,
        "parse_error",
    ),
    # --- unicode and control characters
    ("nul-in-username", "anon", "post", LOGIN, {"username": "ali\x00ce", "password": "x"}, 400, "invalid"),
    ("nul-in-password", "anon", "post", LOGIN, {"username": "alice", "password": "x\x00"}, 400, "invalid"),
    ("lone-surrogate-username", "anon", "post", LOGIN, b'{"username": "\\ud800", "password": "x"}', 400, "invalid"),
    ("lone-surrogate-refresh", "anon", "post", REFRESH, b'{"refresh": "\\udfff"}', 400, "invalid"),
    (
        "rtl-override-username",
        "anon",
        "post",
        LOGIN,
        {"username": "\u202eecila", "password": "x"},
        401,
        "no_active_account",
    ),
    (
        "emoji-username",
        "anon",
        "post",
        LOGIN,
        {"username": "\U0001f600" * 40, "password": "x"},
        401,
        "no_active_account",
    ),
    (
        "escape-sequence-username",
        "staff",
        "post",
        ADMIN_USERS,
        {"username": "\x1b[31mred", "password": "Long-enough-91"},
        400,
        "invalid",
    ),
    (
        "newline-username",
        "staff",
        "post",
        ADMIN_USERS,
        {"username": "two\nlines", "password": "Long-enough-91"},
        400,
        "invalid",
    ),
    ("nul-in-first-name", "staff", "patch", ADMIN_USERS + "{user}/", {"first_name": "\x00"}, 400, "invalid"),
    ("nul-in-status-filter", "user", "get", ALL_USERS + "?status=%00", None, 400, "invalid"),
    (
        "fullwidth-status-filter",
        "user",
        "get",
        ALL_USERS + "?status=\uff4f\uff4e\uff4c\uff49\uff4e\uff45",
        None,
        400,
        "invalid",
    ),
    # --- SQL-looking strings
    (
        "sql-or-username",
        "anon",
        "post",
        LOGIN,
        {"username": "alice' OR '1'='1", "password": "x' OR '1'='1"},
        401,
        "no_active_account",
    ),
    (
        "sql-comment-username",
        "anon",
        "post",
        LOGIN,
        {"username": "alice'--", "password": "anything"},
        401,
        "no_active_account",
    ),
    (
        "sql-drop-create",
        "staff",
        "post",
        ADMIN_USERS,
        {"username": "x'; DROP TABLE users; --", "password": "Long-enough-91"},
        400,
        "invalid",
    ),
    ("sql-status-filter", "user", "get", ALL_USERS + "?status=online'%20OR%20'1'='1", None, 400, "invalid"),
    (
        "sql-union-status-filter",
        "staff",
        "get",
        ALL_USERS + "?status=offline%20UNION%20SELECT%20password%20FROM%20users",
        None,
        400,
        "invalid",
    ),
    ("sql-in-path-id", "staff", "get", ADMIN_USERS + "1%20OR%201=1/", None, 404, "not_found"),
    (
        "sql-in-deactivate-id",
        "staff",
        "post",
        ADMIN_USERS + "1;DELETE%20FROM%20users/deactivate/",
        None,
        404,
        "not_found",
    ),
    ("out-of-range-id", "staff", "get", ADMIN_USERS + "99999999999999999999999/", None, 404, "not_found"),
    ("negative-id", "staff", "post", ADMIN_USERS + "-1/deactivate/", None, 404, "not_found"),
    # --- forged and wrong-type tokens
    ("alg-none", "alg-none", "get", ME, None, 401, "token_not_valid"),
    ("alg-none-uppercase", "alg-none-uppercase", "post", HEARTBEAT, None, 401, "token_not_valid"),
    ("signed-with-another-key", "other-key", "post", HEARTBEAT, None, 401, "token_not_valid"),
    ("signed-with-hs512", "other-algorithm", "get", ALL_USERS, None, 401, "token_not_valid"),
    ("no-exp-claim", "no-exp", "post", HEARTBEAT, None, 401, "token_not_valid"),
    ("not-yet-valid", "not-yet-valid", "get", ME, None, 401, "token_not_valid"),
    ("no-token-type", "token-type-missing", "get", ME, None, 401, "token_not_valid"),
    ("access-as-refresh", "anon", "post", REFRESH, "access-token-in-body", 401, "token_not_valid"),
    ("access-as-logout-refresh", "user", "post", LOGOUT, "access-token-in-body", 400, "invalid"),
    ("alg-none-refresh", "anon", "post", REFRESH, "alg-none-refresh-in-body", 401, "token_not_valid"),
    ("lowercase-bearer", "lowercase-bearer", "get", ME, None, 401, "not_authenticated"),
    ("token-in-query-string", "anon", "get", ME + "?access_token={access}", None, 401, "not_authenticated"),
    # --- unknown routes and methods
    ("path-traversal", "user", "get", "/api/users/../../etc/passwd", None, 404, "not_found"),
    ("encoded-nul-path", "user", "get", "/api/users/%00/", None, 404, "not_found"),
    ("very-long-path", "anon", "get", "/api/" + "a" * 8000, None, 404, "not_found"),
    ("propfind", "user", "propfind", ME, None, 405, "method_not_allowed"),
    ("trace", "anon", "trace", LOGIN, None, 405, "method_not_allowed"),
    ("delete-all-users", "staff", "delete", ALL_USERS, None, 405, "method_not_allowed"),
    ("put-heartbeat", "user", "put", HEARTBEAT, {}, 405, "method_not_allowed"),
]


@pytest.mark.parametrize("case, who, method, path, body, status, code", TABLE, ids=[row[0] for row in TABLE])
def test_hostile_request_gets_its_4xx_json_error_and_changes_nothing(
    world, user, staff, users_table, case, who, method, path, body, status, code
):
    alice_tokens = world["user"].tokens
    if who in world:
        client = world[who]
    else:
        client = APIClient()
        scheme_and_token = (
            f"bearer {alice_tokens['access']}" if who == "lowercase-bearer" else f"Bearer {forged(user, who)}"
        )
        client.credentials(HTTP_AUTHORIZATION=scheme_and_token)
    if body == "access-token-in-body":
        body = {"refresh": alice_tokens["access"]}
    elif body == "alg-none-refresh-in-body":
        body = {"refresh": f"{b64({'alg': 'none'})}.{b64({**claims_of(user), 'token_type': 'refresh'})}."}
    path = path.format(user=user.pk, access=alice_tokens["access"])
    before = snapshot(users_table)

    if isinstance(body, bytes):
        response = client.generic(method.upper(), path, body, content_type="application/json")
    elif method in ("get", "delete", "trace") or body is None:
        response = client.generic(method.upper(), path)
    else:
        response = getattr(client, method)(path, body, format="json")

    assert_json_error(response, status, code)
    assert snapshot(users_table) == before, "a rejected request changed a row"


def test_the_table_has_at_least_forty_cases():
    assert len(TABLE) >= 40 and len({row[0] for row in TABLE}) == len(TABLE)
