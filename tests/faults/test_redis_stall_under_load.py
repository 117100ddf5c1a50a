"""Redis stalled (SIGSTOP for 5 s) or partitioned (a relay that swallows what clients send) under load on
compose's web command: 30 users heartbeating, an admin reading all-users, a logout inside the fault. Measured:
the answers after the first 2 s of the fault, the logout, the revoked token on a read and a heartbeat, /readyz."""

import os
import signal
import statistics
import threading
import time

import pytest

from tests.faults.test_redis_stall import Relay
from tests.live.conftest import Api, free_port, wait_until_healthy
from tests.sockets.test_compose_web import compose_web_command

pytestmark = [pytest.mark.live]
USERS, STALL_SECONDS = 30, 5
PASSWORD = "Correct-horse-42"


@pytest.fixture(params=["stall", "partition"])
def redis_fault(request, redis_server):
    """(url the server uses, start the fault, end it): SIGSTOP/SIGCONT, or a relay that drops client bytes."""
    if request.param == "stall":
        yield (
            redis_server.url,
            lambda: os.kill(redis_server.process.pid, signal.SIGSTOP),
            lambda: os.kill(redis_server.process.pid, signal.SIGCONT),
        )
        return
    relay = Relay(redis_server.port)
    try:
        yield (
            f"redis://127.0.0.1:{relay.port}/0",
            lambda: setattr(relay, "partitioned", True),
            lambda: setattr(relay, "partitioned", False),
        )
    finally:
        relay.close()


def test_a_redis_fault_under_load_keeps_answers_fast_and_the_logout_holds(
    on_postgres, live_env, start_process, redis_fault, make_user, staff
):
    redis_url, start_fault, end_fault = redis_fault
    live_env.update(
        DJANGO_SETTINGS_MODULE="offchat_backend.settings.production",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        SECRET_KEY="redis-stall-load-test-secret-key-0123456789abcdef0123456789ab",
        REDIS_URL=redis_url,
        CELERY_BROKER_URL="memory://",
        LOGIN_THROTTLE_IP_RATE="100000/min",
        LOGIN_THROTTLE_USERNAME_RATE="100000/min",
    )
    port = free_port()
    api = Api(f"http://127.0.0.1:{port}")
    wait_until_healthy(api, start_process("web", compose_web_command(port)))
    people = [make_user(username=f"load{i}") for i in range(USERS)]
    tokens = [api.call("POST", "/api/users/login/", {"username": p.username, "password": PASSWORD})[2] for p in people]
    admin = api.call("POST", "/api/users/login/", {"username": staff.username, "password": PASSWORD})[2]["access"]
    leaving = api.call("POST", "/api/users/login/", {"username": people[0].username, "password": PASSWORD})[2]

    samples: list[tuple[float, float, int]] = []  # (started, seconds, status)
    stop = threading.Event()

    def client(call):
        deadline = time.monotonic() + 30  # bounded whatever happens
        while not stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            status = call()
            samples.append((started, time.monotonic() - started, status))
            time.sleep(1)

    threads = [
        threading.Thread(
            target=client, args=(lambda t=t: api.call("POST", "/api/users/heartbeat/", {}, token=t["access"])[0],)
        )
        for t in tokens
    ] + [threading.Thread(target=client, args=(lambda: api.call("GET", "/api/users/all-users/", token=admin)[0],))]
    for thread in threads:
        thread.start()
    time.sleep(2)

    start_fault()
    stalled_at = time.monotonic()
    try:
        time.sleep(0.5)
        (status, _, _), logout_took = _timed(
            lambda: api.call("POST", "/api/users/logout/", {"refresh": leaving["refresh"]}, token=leaving["access"])
        )
        assert status == 200 and logout_took < 2, logout_took
        assert api.call("GET", "/api/users/me/", token=leaving["access"])[0] == 401
        assert api.call("POST", "/api/users/heartbeat/", {}, token=leaving["access"])[0] == 401
        (status, _, _), ready_took = _timed(lambda: api.call("GET", "/readyz"))
        assert ready_took < 1, ready_took
        time.sleep(max(0, STALL_SECONDS - (time.monotonic() - stalled_at)))
    finally:
        end_fault()
    stop.set()
    for thread in threads:
        thread.join(10)

    during = [
        (took, status) for started, took, status in samples if stalled_at + 2 <= started <= stalled_at + STALL_SECONDS
    ]
    assert len(during) >= USERS, len(during)
    times = sorted(took for took, _ in during)
    ok = sum(status == 200 for _, status in during) / len(during)
    p50, p99 = statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]
    print(
        f"redis fault under load: n={len(during)} ok={ok:.1%} p50={p50 * 1000:.0f}ms p99={p99 * 1000:.0f}ms "
        f"logout={logout_took * 1000:.0f}ms readyz={ready_took * 1000:.0f}ms"
    )
    assert ok >= 0.95 and p99 <= 1, (ok, p99)
    assert api.call("GET", "/api/users/me/", token=leaving["access"])[0] == 401  # and after the stall


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started
