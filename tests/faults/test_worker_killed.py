"""A Celery worker SIGKILLed in the middle of a sweep: nothing half-done is left, the next beat tick of a
new worker completes the sweep, and a duplicate sweep on top is harmless."""

import os
import signal
import uuid
from datetime import timedelta

import psycopg
from django.db import connection

from tests.live.conftest import procfile_command, wait_until
from users.models import SweepRecord, User
from users.presence import clock as presence_clock
from users.services.simple_online_status import check_and_mark_offline_users

STALE_USERS = 50
SWEEP_WAITING_SQL = """
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE 'UPDATE "users"%%'
"""


def libpq_dsn(settings_dict: dict) -> str:
    parts = {
        "dbname": settings_dict["NAME"],
        "user": settings_dict.get("USER"),
        "password": settings_dict.get("PASSWORD"),
        "host": settings_dict.get("HOST") or "127.0.0.1",
        "port": settings_dict.get("PORT"),
    }
    return " ".join(f"{key}={value}" for key, value in parts.items() if value)


def online_count(ids) -> int:
    return User.objects.filter(pk__in=ids, online_status="online").count()


def start_worker(start_process, name: str):
    """The Procfile's `worker --beat`, under a node name of its own."""
    return start_process(name, procfile_command("worker") + ["--hostname", f"{name}-{uuid.uuid4().hex[:8]}@%h"])


def test_a_worker_killed_mid_sweep_leaves_nothing_half_done_and_the_next_tick_completes_it(on_postgres, start_process):
    long_ago = presence_clock.now() - timedelta(hours=1)
    User.objects.bulk_create(
        User(username=f"stale{n}", online_status="online", last_seen=long_ago) for n in range(STALE_USERS)
    )
    stale = list(User.objects.filter(username__startswith="stale").values_list("id", flat=True))
    # Hold the table before the worker starts, so no sweep can complete and the first one blocks inside
    # its UPDATE: it is then, provably, mid-sweep.
    with psycopg.connect(libpq_dsn(connection.settings_dict), autocommit=False) as holder:
        holder.execute("LOCK TABLE users IN EXCLUSIVE MODE")
        worker = start_worker(start_process, "worker")
        with psycopg.connect(libpq_dsn(connection.settings_dict), autocommit=True) as observer:
            waiting = wait_until(lambda: observer.execute(SWEEP_WAITING_SQL).fetchall(), describe=worker.describe)
            os.killpg(worker.popen.pid, signal.SIGKILL)
            worker.popen.wait(timeout=10)
            holder.rollback()  # release the table: the orphaned UPDATE runs, then finds its client gone
            sweep_pids = [pid for (pid,) in waiting]
            # Its backend gets the lock, runs the UPDATE inside the transaction, reads EOF where COMMIT
            # should be, rolls back and exits.
            gone = "SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)"
            wait_until(lambda: not observer.execute(gone, [sweep_pids]).fetchall())

    # The killed sweep never committed: every stale user is still online, no sweep was recorded.
    assert online_count(stale) == STALE_USERS
    assert not SweepRecord.objects.exists()

    # A new worker with beat: its first tick completes the sweep.
    restarted = start_worker(start_process, "worker-restarted")
    wait_until(lambda: online_count(stale) == 0, describe=restarted.describe)
    wait_until(
        lambda: SweepRecord.objects.filter(marked_offline_total__gte=STALE_USERS).exists(), describe=restarted.describe
    )
    # A duplicate sweep (a redelivered message, a second beat) finds nothing left to do.
    assert check_and_mark_offline_users() == 0
    assert online_count(stale) == 0
