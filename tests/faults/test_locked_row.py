"""A user's row held FOR UPDATE by another transaction (an admin's edit, a script, a migration): that user's
reads do not wait, their heartbeat waits at most the lock timeout and then answers a JSON 503 with Retry-After,
everyone else is unaffected, and all is well once the lock goes.

The server is compose's web command (daphne, production settings): the timeouts apply to server processes.
"""

import threading
import time

import pytest
from django.db import connections

from tests.live.conftest import Api, free_port, wait_until_healthy
from tests.sockets.test_compose_web import compose_web_command

pytestmark = [pytest.mark.live]
HOLD_SECONDS = 6
OTHERS = 30


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def hold_row(user_id: int, locked: threading.Event, release: threading.Event):
    """Another transaction holding the user's row until `release` (bounded by HOLD_SECONDS)."""
    with connections["default"].cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", [user_id])
        locked.set()
        release.wait(HOLD_SECONDS)
        cursor.execute("ROLLBACK")
    connections["default"].close()


def test_a_locked_row_never_hangs_its_users_requests(on_postgres, live_env, start_process, user, staff, make_user):
    others_accounts = [make_user(username=f"other{i}") for i in range(OTHERS)]
    live_env.update(
        DJANGO_SETTINGS_MODULE="offchat_backend.settings.production",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        SECRET_KEY="locked-row-test-secret-key-0123456789abcdef0123456789abcdef",
        PRESENCE_LOCK_TIMEOUT_SECONDS="1",
        PRESENCE_TOUCH_SECONDS="1",
        LOGIN_THROTTLE_IP_RATE="100000/min",
        LOGIN_THROTTLE_USERNAME_RATE="100000/min",
    )
    port = free_port()
    api = Api(f"http://127.0.0.1:{port}")
    wait_until_healthy(api, start_process("web", compose_web_command(port)))
    tokens = {
        who.username: api.call("POST", "/api/users/login/", {"username": who.username, "password": "Correct-horse-42"})[
            2
        ]
        for who in (user, staff)
    }
    alice, boss = tokens[user.username]["access"], tokens[staff.username]["access"]
    others_tokens = [
        api.call("POST", "/api/users/login/", {"username": o.username, "password": "Correct-horse-42"})[2]["access"]
        for o in others_accounts
    ]
    time.sleep(1.2)  # alice's last_seen is now old enough for her next request to touch it
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def heartbeat_every_second(token):
        deadline = time.monotonic() + 30  # bounded whatever happens
        while not stop.is_set() and time.monotonic() < deadline:
            (status, _, _), took = timed(lambda: api.call("POST", "/api/users/heartbeat/", {}, token=token))
            samples.append((took, status))
            time.sleep(1)

    load = [threading.Thread(target=heartbeat_every_second, args=(t,)) for t in others_tokens]

    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_row, args=(user.pk, locked, release))
    holder.start()
    for thread in load:
        thread.start()
    try:
        assert locked.wait(5)
        (status, _, _), read_took = timed(lambda: api.call("GET", "/api/users/me/", token=alice))
        assert status == 200 and read_took < 1, read_took  # the touch skipped the held row
        (status, headers, body), beat_took = timed(lambda: api.call("POST", "/api/users/heartbeat/", {}, token=alice))
        assert beat_took < 3, beat_took
        assert status == 200 or (status == 503 and body["code"] == "service_unavailable" and headers["Retry-After"])
        boss_beat = timed(lambda: api.call("POST", "/api/users/heartbeat/", {}, token=boss))
        assert boss_beat[0][0] == 200
        time.sleep(2)  # the others keep heartbeating while the row stays held
    finally:
        release.set()
        holder.join(HOLD_SECONDS + 5)
        stop.set()
        for thread in load:
            thread.join(10)
    times = sorted(took for took, _ in samples)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(
        f"locked row: read {read_took * 1000:.0f}ms, heartbeat {beat_took * 1000:.0f}ms ({status}); "
        f"{len(samples)} other heartbeats, p99 {p99 * 1000:.0f}ms"
    )
    ok = sum(status == 200 for _, status in samples) / len(samples)
    assert ok >= 0.95 and p99 < 1, (len(samples), ok, p99, sorted({s for _, s in samples}))

    status, _, body = api.call("POST", "/api/users/heartbeat/", {}, token=alice)
    assert status == 200 and body["online_status"] == "online"
