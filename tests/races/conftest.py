"""Fixtures for the race suites: many threads at once, each on its own database connection."""

import threading
import time
import traceback

import pytest
from django.db import connection, transaction


@pytest.fixture
def on_postgres(transactional_db):
    """Real concurrent transactions: PostgreSQL only (SQLite serialises every writer)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")


@pytest.fixture
def run_together():
    """Start every target at the same instant and return the tracebacks of those that raised.

    Each thread closes its own database connection at the end. A thread still running
    after `bound_seconds` means a hang or a deadlock, and is reported as an error too.
    """

    def run_all(targets, *, bound_seconds: float) -> list[str]:
        errors: list[str] = []
        barrier = threading.Barrier(len(targets))

        def run(target):
            try:
                barrier.wait(timeout=bound_seconds)
                target()
            except BaseException:  # noqa: BLE001 - reported to the test, not swallowed
                errors.append(traceback.format_exc())
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(target,), daemon=True) for target in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=bound_seconds)
        stuck = sum(thread.is_alive() for thread in threads)
        if stuck:
            errors.append(f"{stuck} thread(s) still running after {bound_seconds}s: a hang or a deadlock")
        return errors

    return run_all


@pytest.fixture
def behind_a_held_write(run_together):
    """Run `first` in a transaction held open until `second`, started meanwhile, waits on a lock; returns `second`'s result.

    The order is forced: `second` must queue behind `first`'s locks, and sees its commit when it resumes.
    """

    def run(first, second, *, bound_seconds: float = 30):
        holding, waiting_seen = threading.Event(), threading.Event()
        results = []

        def hold():
            with transaction.atomic():
                first()
                holding.set()
                assert waiting_seen.wait(bound_seconds), "the second write never queued behind the first"

        def follow():
            assert holding.wait(bound_seconds)
            results.append(second())

        def watch():
            assert holding.wait(bound_seconds)
            deadline = time.monotonic() + bound_seconds
            while not a_backend_waits_on_a_lock():
                assert time.monotonic() < deadline, "no backend waited on a lock"
                time.sleep(0.01)
            waiting_seen.set()

        errors = run_together([hold, follow, watch], bound_seconds=bound_seconds)
        assert not errors, "\n".join(errors)
        return results[0]

    return run


def a_backend_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def _deadlocks_so_far() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # read the counters as they are now, not cached
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.fixture(autouse=True)
def no_deadlocks(request):
    """On PostgreSQL, the server's own deadlock counter for this database must not move during a race test.

    A deadlock also surfaces as an error in a thread; the counter catches one that a retry hid.
    Each thread closes its connection at the end, and a backend flushes its counters as it exits.
    """
    if "transactional_db" not in request.fixturenames or connection.vendor != "postgresql":
        yield
        return
    request.getfixturevalue("transactional_db")
    before = _deadlocks_so_far()
    yield
    deadline = time.monotonic() + 1
    after = _deadlocks_so_far()
    while after == before and time.monotonic() < deadline:  # give exiting backends a moment to flush
        time.sleep(0.2)
        after = _deadlocks_so_far()
    assert after == before, f"PostgreSQL counted {after - before} deadlock(s) during the test"
