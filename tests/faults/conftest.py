"""Servers the fault suites own and break: a redis-server and a PostgreSQL cluster on free ports of 127.0.0.1.

Each is started for one test (or one module), stopped, stalled or killed by the test, restarted on
the same port, and removed at the end; a relay of the test's own stands in for the network between
them and the app. Binaries are looked up on PATH and under /usr/lib/postgresql; a missing one skips
the test with the reason.
"""

import contextlib
import glob
import os
import pwd
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.live.conftest import (  # noqa: F401 - fixtures and the report hook, shared with the live suites
    free_port,
    live_env,
    pytest_runtest_makereport,
    start_process,
    wait_until,
)

START_SECONDS = 20
# Suites that bring their own cluster need no DATABASE_URL, so the SQLite run would only repeat them.
ONCE = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="runs in the PostgreSQL run (DATABASE_URL=postgres://...)"
)


@pytest.fixture
def on_postgres(transactional_db):
    """These faults are about PostgreSQL's behaviour (row locks, a real server): skip on SQLite."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (run with DATABASE_URL=postgres://...)")


@pytest.fixture
def row():
    """Reload a user's row from the `users` table."""
    from users.models import User

    return lambda user: User.objects.get(pk=user.pk)


class RedisServer:
    """A redis-server of this test's own; kill() is SIGKILL, start() brings it back empty on the same port."""

    def __init__(self, binary: str, workdir: Path):
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.process: subprocess.Popen | None = None
        self.appendonly = False  # True: it keeps its data in an AOF under workdir across kill() and start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--appendfsync",
                "always",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(self.answers, timeout=START_SECONDS, describe=lambda: "redis-server did not answer PING")

    def answers(self) -> bool:
        import redis

        try:
            return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5).ping()
        except redis.RedisError:
            return False

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(binary, tmp_path)
    server.start()
    yield server
    server.kill()


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    return found


class PostgresCluster:
    """A throwaway cluster (initdb) of this test's own, trust auth on 127.0.0.1; stop() and start() keep its port."""

    def __init__(self):
        self.initdb, self.pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="offchat-pg-"))
        self.data = self.dir / "data"
        # initdb refuses to run as root: run the cluster as the postgres system user then.
        self.run_as = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.dir, account.pw_uid, account.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/offchat"

    def _run(self, *argv: str, timeout: float = 60):
        subprocess.run(
            self.run_as + list(argv), check=True, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )

    def create(self):
        self._run(self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        self.start()
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE offchat")

    def start(self):
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir} -c fsync=off"
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")

    def stop(self):
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def processes(self) -> list[int]:
        """The postmaster's pid, then every process it forked (backends, checkpointer, WAL writer, ...)."""
        master = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for entry in os.listdir("/proc"):
            with contextlib.suppress(OSError, IndexError):
                if (
                    entry.isdigit()
                    and int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == master
                ):
                    children.append(int(entry))
        return [master, *children]

    def stall(self) -> list[int]:
        """SIGSTOP every process of the cluster, the postmaster first so that it forks no new one; returns them."""
        stalled = []
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                stalled.append(pid)
        return stalled

    def resume(self, stalled: list[int]) -> None:
        for pid in reversed(stalled):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def remove(self):
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def _created_cluster():
    cluster = PostgresCluster()
    if not cluster.initdb or not cluster.pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def postgres_cluster():
    with _created_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def module_postgres_cluster():
    """One cluster for a module's tests (each leaves it running and answering, and uses names of its own)."""
    with _created_cluster() as cluster:
        yield cluster


class HoldingRelay:
    """A TCP relay to `target_port`; while `partitioned`, what either side sends is held and delivered when it heals.

    This is what a network that drops packets does to TCP: each side's kernel keeps resending, nothing
    arrives until the path is back, then all of it does, in order. A side that closes meanwhile has
    its close delivered after its data. New connections during the partition are accepted and held
    too (a client cannot tell a held handshake answer from a held SYN). Bounded: it stops after
    `lifetime` seconds whatever the test does.
    """

    def __init__(self, target_port: int, lifetime: float = 180):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port, self.target_port = self.listener.getsockname()[1], target_port
        self.partitioned = False
        self.held: dict[socket.socket, list[bytes | None]] = {}  # per sending socket: chunks, None for its close
        self.peer: dict[socket.socket, socket.socket] = {}
        self.ended: set[socket.socket] = set()  # sockets whose close was delivered to their peer
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(time.monotonic() + lifetime,), daemon=True)
        self.thread.start()

    def _serve(self, until: float):
        self.selector = selector = selectors.DefaultSelector()
        selector.register(self.listener, selectors.EVENT_READ)
        while not self.stopped.is_set() and time.monotonic() < until:
            for key, _ in selector.select(timeout=0.05):
                if key.fileobj is self.listener:
                    self._accept(selector)
                    continue
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(sock)
                self.held.setdefault(sock, []).append(data or None)
            if not self.partitioned:
                self._deliver()
        for sock in list(self.peer):
            sock.close()

    def _accept(self, selector):
        client, _ = self.listener.accept()
        try:
            server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:  # the server is down: the client sees its connection closed, as with a refusal
            client.close()
            return
        for sock, peer in ((client, server), (server, client)):
            sock.settimeout(5)  # a send never hangs the relay
            self.peer[sock] = peer
            selector.register(sock, selectors.EVENT_READ)

    def _deliver(self):
        for sock, chunks in list(self.held.items()):
            peer = self.peer.get(sock)
            if peer is None:  # closed with its peer already
                self.held.pop(sock, None)
                continue
            while chunks:
                chunk = chunks.pop(0)
                try:
                    if chunk is None:
                        peer.shutdown(socket.SHUT_WR)
                        self.ended.add(sock)
                    else:
                        peer.sendall(chunk)
                except OSError:
                    chunks.clear()  # the other side is gone; what it was sent is lost with it
                    self.ended.update((sock, peer))
            del self.held[sock]
            if sock in self.ended and peer in self.ended:  # both sides closed: the connection is over
                for end in (sock, peer):
                    self.ended.discard(end)
                    self.peer.pop(end, None)
                    self.held.pop(end, None)
                    with contextlib.suppress(KeyError, ValueError):
                        self.selector.unregister(end)
                    end.close()

    def close(self):
        self.stopped.set()
        self.thread.join(5)
        self.listener.close()
