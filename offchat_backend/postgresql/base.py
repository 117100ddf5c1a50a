"""Django's PostgreSQL backend with a client-side deadline on every wait and the database breaker in front.

libpq has no deadline of its own. A query to a frozen server (SIGSTOP, a paused VM) or across a
network that drops packets waits until TCP gives up, minutes later: statement_timeout is enforced by
the server, so it never fires on one that does not run; tcp_user_timeout fires only when sent data
goes unacknowledged, and a frozen server's kernel still acknowledges it; keepalives probe only idle
sockets; a cancel request needs a server that acts on it. The one clock that runs in every case is the
client's own. Every blocking step of psycopg (a query, a commit, a fetch) goes through
Connection.wait, and a connect through its connect generator, so both are bounded here by
DB_CLIENT_DEADLINE_SECONDS. Past it the connection is closed at once: it can never be reused, and the
server, once it runs again or the network heals, reads the closed socket and rolls back whatever was
not committed. Only a COMMIT already sent may still land, as after any lost connection.

Only processes that call guard() (the web servers and the Celery worker and beat) get the deadline,
the breaker and the TCP options; migrations and other management commands run unbounded.
"""

import time
import types

import psycopg
from django.conf import settings
from django.db import connections
from django.db.backends.postgresql import base
from psycopg import errors
from psycopg.connection import _WAIT_INTERVAL

from offchat_backend.db_breaker import breaker

# An idle kept connection whose peer is gone is found by the kernel within 10 + 3 × 2 s, before a
# request would wait on it.
KEEPALIVE_IDLE_SECONDS, KEEPALIVE_INTERVAL_SECONDS, KEEPALIVE_COUNT = 10, 2, 3


class DeadlineExceeded(psycopg.OperationalError):
    """A wait on PostgreSQL outlived DB_CLIENT_DEADLINE_SECONDS; its connection was closed."""


class BoundedConnection(psycopg.Connection):
    """psycopg's connection: each wait admitted by the breaker and given up past the deadline."""

    deadline: float | None = None  # seconds; set by guard()

    @classmethod
    def connect(cls, *args, **kwargs):
        breaker.admit()
        try:
            connection = super().connect(*args, **kwargs)
        except psycopg.Error:  # refused, timed out, or no answer within the deadline
            breaker.failed()
            raise
        breaker.succeeded()
        return connection

    @classmethod
    def _connect_gen(cls, conninfo: str = ""):
        # libpq's connect_timeout is whole seconds, at least 2; the deadline may be shorter.
        connecting = super()._connect_gen(conninfo)
        if cls.deadline is None:
            return (yield from connecting)
        return (yield from _until(connecting, cls.deadline))

    def wait(self, gen, interval: float = _WAIT_INTERVAL, timeout: float | None = None):
        breaker.admit()
        deadline = self.deadline
        ours = deadline is not None and (timeout is None or deadline < timeout)
        try:
            result = super().wait(gen, interval, deadline if ours else timeout)
        except errors._WaitTimeout:
            if not ours:
                raise  # the caller's own timeout (notifies())
            self.pgconn.finish()
            breaker.failed()
            raise DeadlineExceeded(f"PostgreSQL did not answer within {deadline}s; the connection was closed") from None
        except psycopg.Error:
            # A server that answers with an error (a lock timeout, a constraint) is there; a lost connection is not.
            if self.closed:
                breaker.failed()
            else:
                breaker.succeeded()
            raise
        breaker.succeeded()
        return result


def _until(connecting, seconds: float):
    """Drive the connect generator for psycopg's waiter, which resumes it at least every 0.1 s; give up after `seconds`."""
    give_up_at = time.monotonic() + seconds
    try:
        step = next(connecting)
        while True:
            ready = yield step
            if time.monotonic() >= give_up_at:
                connecting.close()  # drops the half-made connection and its socket
                raise DeadlineExceeded(f"no connection to PostgreSQL within {seconds}s")
            step = connecting.send(ready)
    except StopIteration as done:
        return done.value


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's PostgreSQL backend on BoundedConnection; under guard(), TCP keepalives and tcp_user_timeout too."""

    # Django's backend connects through `self.Database.connect` and maps errors by name from it.
    Database = types.SimpleNamespace(**{**vars(psycopg), "connect": BoundedConnection.connect})

    def ensure_connection(self):
        # A connection closed under a missed deadline is dropped at its next use, not only at the next
        # request's health check; inside a transaction Django then refuses to reconnect, as it must.
        if self.connection is not None and self.connection.closed:
            self.close()
        super().ensure_connection()

    def get_connection_params(self):
        params = super().get_connection_params()
        if BoundedConnection.deadline is not None:
            params.setdefault("keepalives", 1)
            params.setdefault("keepalives_idle", KEEPALIVE_IDLE_SECONDS)
            params.setdefault("keepalives_interval", KEEPALIVE_INTERVAL_SECONDS)
            params.setdefault("keepalives_count", KEEPALIVE_COUNT)
            # Sent data unacknowledged this long (a dropping network): the kernel closes the socket too.
            params.setdefault("tcp_user_timeout", int(BoundedConnection.deadline * 1000))
        return params


def _probe() -> None:
    """The breaker's probe: a connection of its own, one SELECT 1, closed (each wait under the deadline)."""
    params = connections["default"].get_connection_params()
    with BoundedConnection.connect(**params) as probe:
        probe.execute("SELECT 1")


def guard() -> None:
    """This process bounds every PostgreSQL wait by DB_CLIENT_DEADLINE_SECONDS and goes through the breaker."""
    if settings.DB_CLIENT_DEADLINE_SECONDS is None:
        return  # the unit-test process (settings/test.py)
    BoundedConnection.deadline = settings.DB_CLIENT_DEADLINE_SECONDS
    breaker.open_seconds = settings.DB_BREAKER_OPEN_SECONDS
    breaker.probe_seconds = 2 * settings.DB_CLIENT_DEADLINE_SECONDS + 1
    breaker.probe = _probe
    breaker.enabled = True
