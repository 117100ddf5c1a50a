"""Heartbeats from many threads while sweeps run: no heartbeat within the timeout is lost, stale users go offline."""

import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection

from users.models import User
from users.presence import clock as presence_clock
from users.services.simple_online_status import check_and_mark_offline_users, mark_user_online

pytestmark = pytest.mark.postgres

HEARTBEAT_THREADS = 50
SWEEP_THREADS = 4
LATE_USERS = 1000  # each sends exactly one heartbeat, so a lost one cannot be healed by a later one
STALE_USERS = 60
TIMEOUT_SECONDS = 30
BOUND_SECONDS = 20  # the whole storm; below the timeout, so no heartbeated user is ever legitimately stale


@pytest.fixture
def on_postgres(transactional_db, settings):
    """Real concurrent transactions: PostgreSQL only (SQLite serialises every writer)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    settings.PRESENCE_TIMEOUT_SECONDS = TIMEOUT_SECONDS


def make_users(prefix: str, count: int, **presence) -> list[int]:
    User.objects.bulk_create(User(username=f"{prefix}{n}", **presence) for n in range(count))
    return list(User.objects.filter(username__startswith=prefix).order_by("id").values_list("id", flat=True))


def test_heartbeats_racing_sweeps_lose_no_heartbeat_and_stale_users_end_offline(on_postgres, run_together):
    long_ago = presence_clock.now() - timedelta(hours=1)
    late = make_users("late", LATE_USERS, online_status="offline", last_seen=None)
    stale = make_users("stale", STALE_USERS, online_status="online", last_seen=long_ago)
    stale += make_users("neverseen", 10, online_status="online", last_seen=None)
    away = make_users("away", 10, online_status="offline", last_seen=None)

    random.Random(42).shuffle(late)
    shares = [late[k::HEARTBEAT_THREADS] for k in range(HEARTBEAT_THREADS)]
    lock = threading.Lock()
    finished = threading.Event()
    running = [HEARTBEAT_THREADS]
    sweeps: list[int] = []

    def heartbeat(share):
        def run():
            try:
                for user_id in share:
                    # The user's last heartbeat is an hour old and no sweep has caught it yet;
                    # its next heartbeat lands now, while the sweeps are running.
                    User.objects.filter(pk=user_id).update(online_status="online", last_seen=long_ago)
                    assert mark_user_online(user_id) is not None
            finally:
                with lock:
                    running[0] -= 1
                    if not running[0]:
                        finished.set()

        return run

    def sweep():
        deadline = time.monotonic() + BOUND_SECONDS
        while not finished.is_set() and time.monotonic() < deadline:
            marked = check_and_mark_offline_users()
            with lock:
                sweeps.append(marked)

    started = time.monotonic()
    errors = run_together([heartbeat(share) for share in shares] + [sweep] * SWEEP_THREADS, bound_seconds=BOUND_SECONDS)
    assert not errors, "\n".join(errors)
    assert time.monotonic() - started < TIMEOUT_SECONDS  # the premise: no heartbeated user went stale

    rows = dict(User.objects.values_list("id", "online_status"))
    lost = [user_id for user_id in late if rows[user_id] != "online"]
    assert not lost, f"{len(lost)} users whose heartbeat landed within the timeout ended offline"
    assert all(rows[user_id] == "offline" for user_id in stale), "a stale user stayed online"
    assert not User.objects.filter(pk__in=away).exclude(online_status="offline", last_seen=None).exists()
    # Each stale user was counted by exactly one sweep, however many ran at once; a late user
    # caught between going stale and its heartbeat was counted at most once.
    assert len(stale) <= sum(sweeps) <= len(stale) + len(late)
    assert sum(sweeps) > len(stale), "no sweep caught a late user before its heartbeat: the race never happened"
    assert check_and_mark_offline_users() == 0  # nothing stale is left, nobody fresh is caught
