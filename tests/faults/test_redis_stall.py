"""A Redis that neither answers nor refuses (stalled by SIGSTOP, or behind a network that drops what clients
send) costs one socket timeout per breaker period, not one per call; a logout inside the fault holds on
every read during it and after it, and after a restart of Redis with its data (AOF).

The cache is the production one (ReusedClientRedisCache, no redis-py retries, every call through the
breaker) pointed at the test's own redis-server, directly or through a relay of the test's own.
"""

import os
import selectors
import signal
import socket
import threading
import time

import pytest
from rest_framework.test import APIClient

from offchat_backend import redis_breaker
from users.tests.expectations import assert_json_error

ME, HEARTBEAT, LOGOUT, LOGIN = "/api/users/me/", "/api/users/heartbeat/", "/api/users/logout/", "/api/users/login/"
OPEN_SECONDS = 2


class Relay:
    """A TCP relay to Redis on a free port; while `partitioned`, what clients send is swallowed (a dropping network)."""

    def __init__(self, target_port: int):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port, self.target_port = self.listener.getsockname()[1], target_port
        self.partitioned = False
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        selector = selectors.DefaultSelector()
        selector.register(self.listener, selectors.EVENT_READ, None)
        deadline = time.monotonic() + 120  # bounded, whatever the test does
        while not self.stopped.is_set() and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.1):
                if key.data is None:
                    client, _ = self.listener.accept()
                    server = socket.create_connection(("127.0.0.1", self.target_port))
                    selector.register(client, selectors.EVENT_READ, (server, True))
                    selector.register(server, selectors.EVENT_READ, (client, False))
                    continue
                peer, from_client = key.data
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    for sock in (key.fileobj, peer):
                        selector.unregister(sock)
                        sock.close()
                    continue
                if from_client and self.partitioned:
                    continue  # dropped on the way: the server never hears it, the client never hears back
                peer.sendall(data)

    def close(self):
        self.stopped.set()
        self.thread.join(5)
        self.listener.close()


def use_cache(settings, url: str):
    """The production cache settings, pointed at `url`."""
    from django.conf import settings as live

    options = dict(live.CACHES["default"].get("OPTIONS", {}))
    settings.REDIS_URL = url
    settings.CACHES = {
        "default": {
            "BACKEND": "offchat_backend.redis_cache.ReusedClientRedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5, **options},
        }
    }


@pytest.fixture
def guarded_cache(settings, redis_server):
    """The production cache settings on the test's redis-server, a short breaker period, the breaker closed."""
    use_cache(settings, redis_server.url)
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


def test_a_partition_from_redis_costs_one_timeout_and_a_logout_inside_it_holds(
    on_postgres, guarded_cache, settings, user, login, api
):
    relay = Relay(guarded_cache.port)
    try:
        use_cache(settings, f"redis://127.0.0.1:{relay.port}/0")
        tokens = login(user)
        alice = bearer(tokens["access"])
        assert api.get("/readyz").status_code == 200

        relay.partitioned = True
        first, first_took = timed(
            lambda: api.post(LOGIN, {"username": "boss", "password": "Correct-horse-42"}, format="json")
        )
        assert first.status_code in (200, 401) and first_took < 2
        took = [timed(lambda: api.get("/readyz"))[1] for _ in range(5)]
        assert max(took) < 1, took
        logout, logout_took = timed(lambda: alice.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json"))
        assert logout.status_code == 200 and logout_took < 2
        assert_json_error(alice.get(ME), 401, "token_revoked")

        relay.partitioned = False
        time.sleep(OPEN_SECONDS + 0.2)
        assert api.get("/readyz").status_code == 200
        assert_json_error(alice.get(ME), 401, "token_revoked")
        assert_json_error(alice.post(HEARTBEAT, format="json"), 401, "token_revoked")
    finally:
        relay.close()


def test_a_logout_holds_after_redis_restarts_with_its_data(on_postgres, guarded_cache, user, login, api):
    guarded_cache.kill()
    guarded_cache.appendonly = True
    guarded_cache.start()
    redis_breaker.breaker.close()
    tokens = login(user)
    alice = bearer(tokens["access"])
    assert alice.get(ME).status_code == 200  # whatever a cache may remember of this session, it is "live"
    assert alice.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json").status_code == 200

    # The data Redis comes back with (an AOF or snapshot of before the logout) cannot bring the token back:
    # the revocation is not in Redis at all.
    keys_before = guarded_cache_keys(guarded_cache)
    guarded_cache.kill()
    guarded_cache.start()
    assert guarded_cache_keys(guarded_cache) == keys_before and keys_before, "Redis came back with its data"
    assert_json_error(alice.get(ME), 401, "token_revoked")
    assert_json_error(alice.post(HEARTBEAT, format="json"), 401, "token_revoked")


def guarded_cache_keys(server) -> set:
    import redis

    return set(redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=2).keys("*"))
