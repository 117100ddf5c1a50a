"""A Redis that stalls (SIGSTOP: it neither answers nor refuses) costs one socket timeout per breaker period,
not one per call; a logout inside the stall holds on every read during it and after it.

The cache is the production one (ReusedClientRedisCache, no redis-py retries, every call through the
breaker) pointed at the test's own redis-server, which the test stops and continues.
"""

import os
import signal
import time

import pytest
from rest_framework.test import APIClient

from offchat_backend import redis_breaker
from users.tests.expectations import assert_json_error

ME, HEARTBEAT, LOGOUT, LOGIN = "/api/users/me/", "/api/users/heartbeat/", "/api/users/logout/", "/api/users/login/"
OPEN_SECONDS = 2


@pytest.fixture
def guarded_cache(settings, redis_server):
    """The production cache settings on the test's redis-server, a short breaker period, the breaker closed."""
    from django.conf import settings as live

    options = dict(live.CACHES["default"]["OPTIONS"]) if "OPTIONS" in live.CACHES["default"] else {}
    settings.REDIS_URL = redis_server.url
    settings.CACHES = {
        "default": {
            "BACKEND": "offchat_backend.redis_cache.ReusedClientRedisCache",
            "LOCATION": redis_server.url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5, **options},
        }
    }
    previous = redis_breaker.breaker.reset_timeout
    redis_breaker.breaker.reset_timeout = OPEN_SECONDS
    redis_breaker.breaker.close()
    yield redis_server
    os.kill(redis_server.process.pid, signal.SIGCONT)
    redis_breaker.breaker.reset_timeout = previous
    redis_breaker.breaker.close()


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_a_stalled_redis_costs_one_timeout_and_a_logout_inside_it_holds(
    on_postgres, guarded_cache, user, staff, login, api
):
    tokens = login(user)
    alice = bearer(tokens["access"])
    assert api.get("/readyz").status_code == 200

    os.kill(guarded_cache.process.pid, signal.SIGSTOP)

    # The first Redis call (a login's throttle) pays one socket timeout and opens the breaker ...
    first, first_took = timed(
        lambda: api.post(LOGIN, {"username": "boss", "password": "Correct-horse-42"}, format="json")
    )
    assert first.status_code == 200 and first_took < 2
    assert redis_breaker.state() == "open"
    # ... and the calls after it skip Redis: no request waits on it.
    took = [
        timed(lambda: api.post(LOGIN, {"username": "boss", "password": "Correct-horse-42"}, format="json"))[1]
        for _ in range(5)
    ]
    assert max(took) < 0.5, took
    ready, ready_took = timed(lambda: api.get("/readyz"))
    assert ready.status_code == 503 and ready.json()["failing"] == ["redis"] and ready_took < 1
    assert api.get("/livez").status_code == 200

    logout, logout_took = timed(lambda: alice.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json"))
    assert logout.status_code == 200 and logout_took < 2
    assert_json_error(alice.get(ME), 401, "token_revoked")
    assert_json_error(alice.post(HEARTBEAT, format="json"), 401, "token_revoked")

    os.kill(guarded_cache.process.pid, signal.SIGCONT)
    time.sleep(OPEN_SECONDS + 0.2)
    assert api.get("/readyz").status_code == 200  # the probe went through and closed the breaker
    assert redis_breaker.state() == "closed"
    assert_json_error(alice.get(ME), 401, "token_revoked")
    assert_json_error(alice.post(HEARTBEAT, format="json"), 401, "token_revoked")
    metrics = api.get("/metrics").content.decode()
    assert 'offchat_redis_breaker_transitions_total{from="closed",to="open"}' in metrics
    assert 'offchat_redis_breaker_state{state="closed"} 1.0' in metrics
