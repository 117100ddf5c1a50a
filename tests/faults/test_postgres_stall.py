"""A PostgreSQL that neither answers nor refuses (every process SIGSTOPped, or behind a relay that holds what
both sides send) costs a query, a connect or a transaction at most the client deadline; the connection is
thrown away and what it had not committed is rolled back; the breaker then refuses at once, and one probe
closes it once the server answers again. A server that answers with an error opens nothing.

These drive the project's backend (offchat_backend/postgresql) directly, on a cluster of the test's own,
guarded as a server process is (offchat_backend.postgresql.base.guard), with a 1 s deadline.
"""

import contextlib
import time
import uuid

import environ
import psycopg
import pytest
from django.db import DatabaseError, OperationalError, connections

from offchat_backend import db_breaker
from offchat_backend.postgresql import base
from tests.faults.conftest import ONCE, HoldingRelay

pytestmark = ONCE
DEADLINE, OPEN_SECONDS = 1.0, 1.0
# A wait given up at the deadline returns within this much of it (psycopg's waiter wakes every 0.1 s).
SLACK = 0.5


@pytest.fixture
def postgres_cluster(module_postgres_cluster):
    return module_postgres_cluster


@pytest.fixture(params=["stall", "partition"])
def fault(request, postgres_cluster):
    """(the URL the app uses, start the fault, end it): every process SIGSTOPped, or a relay that holds all it is sent."""
    if request.param == "stall":
        stalled: list[int] = []
        yield (
            postgres_cluster.url,
            lambda: stalled.extend(postgres_cluster.stall()),
            lambda: postgres_cluster.resume(stalled),
        )
        postgres_cluster.resume(stalled)
        return
    relay = HoldingRelay(postgres_cluster.port)
    try:
        yield (
            f"postgres://postgres@127.0.0.1:{relay.port}/offchat",
            lambda: setattr(relay, "partitioned", True),
            lambda: setattr(relay, "partitioned", False),
        )
    finally:
        relay.close()


@pytest.fixture
def guarded(monkeypatch):
    """This process guarded as a server is, with a 1 s deadline and a 1 s open period; the breaker closed after."""
    breaker = db_breaker.breaker
    monkeypatch.setattr(base.BoundedConnection, "deadline", DEADLINE)
    for name, value in {"enabled": True, "open_seconds": OPEN_SECONDS, "probe_seconds": 2 * DEADLINE + 1}.items():
        monkeypatch.setattr(breaker, name, value)
    yield breaker
    breaker.state = db_breaker.CLOSED


@pytest.fixture
def database(django_db_blocker, guarded, monkeypatch):
    """open(url): a Django connection on the project's backend to that URL; the breaker's probe uses the same URL."""
    opened = []

    def open_database(url: str):
        config = environ.Env.db_url_config(url) | {"ENGINE": "offchat_backend.postgresql"}
        wrapper = base.DatabaseWrapper(connections.configure_settings({"default": config})["default"], "fault")
        opened.append(wrapper)
        params = wrapper.get_connection_params()

        def probe():
            with base.BoundedConnection.connect(**params) as connection:
                connection.execute("SELECT 1")

        monkeypatch.setattr(guarded, "probe", probe)
        return wrapper

    with django_db_blocker.unblock():
        yield open_database
        for wrapper in opened:
            with contextlib.suppress(DatabaseError):
                wrapper.close()


def timed(call):
    started = time.monotonic()
    try:
        call()
    except Exception as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


def select_one(wrapper):
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


# The partition's figures under load are in test_postgres_stall_under_load.py; here the stall stands for both.
@pytest.mark.parametrize("fault", ["stall"], indirect=True)
def test_a_query_gives_up_at_the_deadline_and_the_breaker_refuses_at_once_until_a_probe_finds_the_server(
    fault, database, guarded
):
    url, start_fault, end_fault = fault
    app = database(url)
    assert select_one(app) == 1
    held = app.connection

    start_fault()
    error, took = timed(lambda: select_one(app))
    assert isinstance(error, OperationalError) and DEADLINE <= took < DEADLINE + SLACK, (error, took)
    assert held.closed, "a connection given up on is closed, never reused"
    refused = [timed(lambda: select_one(app))[1] for _ in range(3)]
    print(f"query given up after {took * 1000:.0f}ms; then refused in {max(refused) * 1000:.1f}ms at most")
    assert guarded.state == db_breaker.OPEN
    # Open: every call fails at once, a new connection included, and nothing waits on the server.
    assert max(refused) < 0.1, refused
    for _ in range(3):
        error, took = timed(lambda: select_one(app))
        assert isinstance(error, OperationalError) and took < 0.1, (error, took)
    time.sleep(OPEN_SECONDS)
    error, took = timed(lambda: select_one(app))  # due: this call starts the probe and is refused itself
    assert isinstance(error, OperationalError) and took < 0.1 and guarded.state == db_breaker.HALF_OPEN
    deadline = time.monotonic() + 2 * DEADLINE + 1
    while guarded.state == db_breaker.HALF_OPEN and time.monotonic() < deadline:
        time.sleep(0.05)
    assert guarded.state == db_breaker.OPEN, "the probe found no server"

    end_fault()
    deadline = time.monotonic() + OPEN_SECONDS + 2 * DEADLINE + 2
    while time.monotonic() < deadline:
        with contextlib.suppress(OperationalError):
            if select_one(app) == 1:
                break
        time.sleep(0.1)
    assert guarded.state == db_breaker.CLOSED and select_one(app) == 1
    assert guarded.transitions[(db_breaker.CLOSED, db_breaker.OPEN)] >= 1
    assert guarded.transitions[(db_breaker.HALF_OPEN, db_breaker.CLOSED)] >= 1


def test_a_transaction_given_up_mid_way_is_rolled_back_whole(fault, database, postgres_cluster):
    url, start_fault, end_fault = fault
    app = database(url)
    table, name = f"written_{uuid.uuid4().hex[:8]}", f"given-up-{uuid.uuid4().hex[:8]}"
    with app.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {table} (n int)")
    app.set_autocommit(False)
    with app.cursor() as cursor:
        cursor.execute(f"SET application_name = '{name}'")
        cursor.execute(f"INSERT INTO {table} VALUES (1)")
    start_fault()
    error, took = timed(lambda: app.cursor().execute(f"INSERT INTO {table} VALUES (2)"))
    assert isinstance(error, OperationalError) and took < DEADLINE + SLACK, (error, took)
    end_fault()

    # The server reads the closed connection once it runs (or once the network delivers its close) and
    # rolls back: neither row is there, and the session that held them is gone.
    sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
    with psycopg.connect(postgres_cluster.url, autocommit=True) as check:
        deadline = time.monotonic() + 10
        while check.execute(sessions, [name]).fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert check.execute(sessions, [name]).fetchone()[0] == 0
        assert check.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


@pytest.mark.parametrize("fault", ["stall"], indirect=True)
def test_a_connect_gives_up_at_the_deadline_below_libpqs_two_second_minimum(fault, database, guarded):
    url, start_fault, end_fault = fault
    app = database(url)
    start_fault()
    try:
        error, took = timed(lambda: select_one(app))  # no connection yet: this is the connect
        print(f"connect given up after {took * 1000:.0f}ms")
        assert isinstance(error, OperationalError) and DEADLINE <= took < DEADLINE + SLACK, (error, took)
        assert "within 1.0s" in str(error) and guarded.state == db_breaker.OPEN
    finally:
        end_fault()


def test_a_server_that_answers_with_an_error_opens_no_breaker(postgres_cluster, database, guarded):
    app = database(postgres_cluster.url)
    with app.cursor() as cursor:
        cursor.execute("SET statement_timeout = 50")
        # The server's own statement timeout (an OperationalError too) and a bug in a query: the server is there.
        for statement in ("SELECT pg_sleep(1)", "SELECT 1 / 0"):
            with contextlib.suppress(DatabaseError):
                cursor.execute(statement)
    assert guarded.state == db_breaker.CLOSED and select_one(app) == 1
