"""Redis killed mid-test: login, heartbeat, all-users and logout keep answering, presence keeps landing in
PostgreSQL, a logged-out token stays refused, and everything recovers when Redis returns, with no restart.

How each Redis user fails (docs/RELIABILITY.md):
- the access-token revocation list falls back to its table (users/services/revocation.py): closed;
- login throttles count per process while Redis is down (users/throttling.py): soft, never open;
- /healthz names redis as failing.
"""

import time

import pytest
from rest_framework.test import APIClient

from users.models import User
from users.tests.expectations import assert_json_error

HEARTBEAT, ALL_USERS, LOGOUT, LOGIN = (
    "/api/users/heartbeat/",
    "/api/users/all-users/",
    "/api/users/logout/",
    "/api/users/login/",
)
# Every request during the outage must answer well within this (a hung socket would blow it).
OUTAGE_BOUND_SECONDS = 15


@pytest.fixture
def cache_on(settings, redis_server):
    """Point the cache (revocations, throttles, /healthz) at the test's own redis-server."""
    settings.REDIS_URL = redis_server.url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_server.url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    return redis_server


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_redis_killed_mid_test_keeps_the_api_answering_and_recovers_without_restart(
    on_postgres, cache_on, user, staff, make_user, login, client_for, api, row
):
    carol = make_user(username="carol")
    alice, boss = client_for(user), client_for(staff)
    assert alice.post(HEARTBEAT, format="json").status_code == 200
    assert api.get("/healthz").json()["checks"]["redis"] == "ok"

    cache_on.kill()
    started = time.monotonic()

    # Login, heartbeat, all-users, logout: 200, written to PostgreSQL.
    before = row(user).last_seen
    assert alice.post(HEARTBEAT, format="json").status_code == 200
    assert row(user).online_status == "online" and row(user).last_seen > before
    listed = boss.get(ALL_USERS)
    assert listed.status_code == 200 and {u["username"] for u in listed.json()} >= {"alice", "boss", "carol"}
    tokens = login(carol)
    assert row(carol).online_status == "online"
    logout = bearer(tokens["access"]).post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")
    assert logout.status_code == 200, logout.content
    assert row(carol).online_status == "offline"
    # The logged-out token is refused though the cache cannot say so: the revocation table does.
    assert_json_error(bearer(tokens["access"]).post(HEARTBEAT, format="json"), 401, "token_revoked")
    assert row(carol).online_status == "offline"
    health = api.get("/healthz")
    assert health.status_code == 503 and health.json()["failing"] == ["redis"]
    assert time.monotonic() - started < OUTAGE_BOUND_SECONDS

    # Redis comes back, empty: the same process recovers, and revocations survived in the table.
    cache_on.start()
    assert api.get("/healthz").status_code == 200
    assert alice.post(HEARTBEAT, format="json").status_code == 200
    assert_json_error(bearer(tokens["access"]).post(HEARTBEAT, format="json"), 401, "token_revoked")
    refreshed = api.post("/api/users/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 401
    assert row(carol).online_status == "offline"
    assert client_for(carol).post(HEARTBEAT, format="json").status_code == 200
    assert User.objects.get(pk=carol.pk).online_status == "online"


def test_login_throttles_still_limit_while_redis_is_down(on_postgres, cache_on, settings, user, api):
    """Fail-soft, not fail-open: with Redis gone each process counts attempts on its own."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"login-ip": "1000/min", "login-username": "3/min"},
    }
    cache_on.kill()
    client = APIClient(REMOTE_ADDR="10.55.0.1")
    statuses = [
        client.post(LOGIN, {"username": "redis-down-victim", "password": "guess"}, format="json").status_code
        for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
