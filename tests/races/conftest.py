"""Fixtures for the race suites: many threads at once, each on its own database connection."""
import threading
import traceback

import pytest
from django.db import connection


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
