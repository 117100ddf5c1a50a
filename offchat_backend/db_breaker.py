"""The database breaker of a server or worker process: after a lost connection or a missed deadline, refuse at once.

Closed: every database call goes through. A call whose connection is lost or refused, or whose wait
outlives DB_CLIENT_DEADLINE_SECONDS (offchat_backend/postgresql/base.py), opens it. Open: every call
fails at once with DatabaseUnavailable (a JSON 503 for requests) for DB_BREAKER_OPEN_SECONDS; the
first call after that starts one probe, a connect and a SELECT 1 on a thread of its own, and is
refused like the others. The probe's answer closes the breaker, its failure opens it again. No
request ever waits on a probe, so a process whose database is down answers everything at once;
any call that succeeds closes the breaker too.

pybreaker (offchat_backend/redis_breaker.py) is not used here: its call() holds one process-wide
lock for the whole guarded call, so every thread's query would queue behind the one that hangs.
"""

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable

import psycopg

logger = logging.getLogger(__name__)
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class DatabaseUnavailable(psycopg.OperationalError):
    """The breaker is open: the call was not sent."""


class DatabaseBreaker:
    """closed → open → (one probe) → closed or open again; shared by every thread of the process."""

    def __init__(self):
        self.enabled = False  # only processes that serve (offchat_backend/postgresql/base.guard) use it
        self.open_seconds = 5.0
        self.probe: Callable[[], None] | None = None  # set by the backend: connect and SELECT 1
        self.probe_seconds = 10.0  # the longest a probe can take (its two waits, each under the deadline)
        self.state = CLOSED
        self.transitions: Counter[tuple[str, str]] = Counter()
        self._opened_at = self._probe_started = 0.0
        self._lock = threading.Lock()
        self._local = threading.local()  # marks the probe's own thread, which the open breaker lets through
        # A fork (a Celery pool child) copies the lock as it is, possibly held, and no probe thread.
        os.register_at_fork(after_in_child=self._forked)

    def admit(self) -> None:
        """Return if a call may go to the database now; raise DatabaseUnavailable otherwise."""
        if self.state == CLOSED or not self.enabled or getattr(self._local, "probing", False):
            return  # the common path takes no lock
        with self._lock:
            if self.state == CLOSED:
                return
            now = time.monotonic()
            due = self.state == OPEN and now >= self._opened_at + self.open_seconds
            lost = self.state == HALF_OPEN and now >= self._probe_started + self.probe_seconds
            if (due or lost) and self.probe is not None:
                self._move(HALF_OPEN)
                self._probe_started = now
                threading.Thread(target=self._run_probe, name="database-probe", daemon=True).start()
        raise DatabaseUnavailable("the database breaker is open; the call was not sent")

    def succeeded(self) -> None:
        """A call got its answer: the database is there."""
        if self.state == CLOSED:
            return
        with self._lock:
            self._move(CLOSED)

    def failed(self) -> None:
        """A call lost its connection, was refused one, or outlived its deadline."""
        if not self.enabled:
            return
        with self._lock:
            self._opened_at = time.monotonic()
            self._move(OPEN)

    def _run_probe(self) -> None:
        self._local.probing = True
        try:
            self.probe()
        except Exception as exc:  # any failure of the probe means the database is still away
            logger.info("database probe failed: %s", type(exc).__name__)
            self.failed()
        else:
            self.succeeded()

    def _forked(self) -> None:
        self._lock = threading.Lock()
        self._probe_started = 0.0  # a probe that was out belongs to the parent

    def _move(self, new: str) -> None:
        """Called under the lock; one log line and one counted transition per change, never one per call."""
        if new == self.state:
            return
        self.transitions[(self.state, new)] += 1
        logger.warning("database breaker %s -> %s", self.state, new)
        self.state = new


breaker = DatabaseBreaker()


def state() -> str:
    """closed (the database answers), open (calls refused after a failure) or half-open (a probe is out)."""
    return breaker.state
