"""Real processes for the live suites: the API server and the Celery worker with beat, started as the Procfile starts them.

Both run with the development settings (eager off) against the test database this pytest
process uses, with the presence intervals shortened to seconds. Every process is started in
its own process group and killed with it when the test ends.
"""

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Short enough for a test, long enough that a loaded machine does not make a live user look dead.
SWEEP_SECONDS = 1
TIMEOUT_SECONDS = 3
# How long a live test waits for anything before failing with the process logs.
WAIT_SECONDS = 30

PRESENCE_SQL = "SELECT username, online_status, last_seen FROM users WHERE username=%s"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile_command(name: str) -> list[str]:
    """The Procfile's command for `name`, with `python` and `celery` taken from this virtualenv."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() == name:
            argv = shlex.split(command)
            if argv[0] == "exec":  # the shell's exec: honcho's process is the command itself
                argv = argv[1:]
            if argv[0] in ("python", "celery"):
                argv[0] = sys.executable if argv[0] == "python" else str(BIN / "celery")
            return argv
    raise LookupError(f"no {name!r} line in the Procfile")


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL naming the database this process is connected to (the test database)."""
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{quote(settings_dict['NAME'], safe='')}"


def presence_row(username: str) -> tuple[str, str, datetime | None] | None:
    """The operating guide's SQL, run as written; last_seen comes back timezone-aware."""
    with connection.cursor() as cursor:
        cursor.execute(PRESENCE_SQL, [username])
        row = cursor.fetchone()
    if row is None:
        return None
    name, status, last_seen = row
    if isinstance(last_seen, str):  # SQLite without type detection
        last_seen = datetime.fromisoformat(last_seen)
    if last_seen is not None and last_seen.tzinfo is None:
        last_seen = last_seen.replace(tzinfo=UTC)  # stored in UTC (USE_TZ)
    return name, status, last_seen


def wait_until(predicate, *, timeout: float = WAIT_SECONDS, interval: float = 0.25, describe=lambda: ""):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout}s waiting\n{describe()}")
        time.sleep(interval)


class LiveProcess:
    """A subprocess in its own process group, its stdout and stderr in one log file."""

    def __init__(self, name: str, argv: list[str], env: dict, log_path: Path):
        self.name, self.argv, self.log_path = name, argv, log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - the child writes to it until stop() closes it
        self.popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the worker's pool children die with it
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def describe(self) -> str:
        state = "running" if self.popen.poll() is None else f"exited with {self.popen.returncode}"
        return f"--- {self.name} ({state}): {' '.join(self.argv)}\n{self.log()[-6000:]}"

    def assert_running(self):
        assert self.popen.poll() is None, self.describe()

    def stop(self):
        """SIGTERM the whole group (as Ctrl-C under honcho would), then SIGKILL whatever is left."""
        for sig, grace in ((signal.SIGTERM, 2), (signal.SIGKILL, 0)):
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                break  # the group is gone
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace)
        self.popen.wait(timeout=10)
        self._log.close()


@pytest.fixture
def live_env(transactional_db, settings, tmp_path):
    """The environment of every live process: development settings on this test's database."""
    # Users created here must be able to log in to a server running the development
    # settings, which do not know the test settings' fast MD5 hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    env = dict(os.environ)  # keeps OFFCHAT_VAR_DIR and REDIS_URL, so both sides share them
    for name in ("CELERY_BROKER_FOLDER", "DEBUG"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="offchat_backend.settings.development",
        DATABASE_URL=database_url(connection.settings_dict),
        PRESENCE_SWEEP_SECONDS=str(SWEEP_SECONDS),
        PRESENCE_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
        PRESENCE_TOUCH_SECONDS="1",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
    )
    if not env.get("REDIS_URL") and not env.get("CELERY_BROKER_URL"):
        # The embedded broker, in a folder of this test's own: no message of another run is consumed.
        env["CELERY_BROKER_FOLDER"] = str(tmp_path / "broker")
    return env


@pytest.fixture
def start_process(live_env, tmp_path, request):
    """Start a LiveProcess; it is stopped (process group and all) when the test ends, and its log shown on failure."""
    started: list[LiveProcess] = []

    def start(name: str, argv: list[str]) -> LiveProcess:
        process = LiveProcess(name, argv, live_env, tmp_path / f"{name}.log")
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for process in started:
            print(process.describe())


@pytest.fixture
def celery_worker_beat(start_process):
    """`celery -A offchat_backend worker --beat` from the Procfile, waited for until it is ready."""
    # A node name of its own, so a worker of another run on the same broker is no duplicate.
    argv = procfile_command("worker") + ["--hostname", f"live-{uuid.uuid4().hex[:8]}@%h"]
    worker = start_process("worker", argv)
    wait_until(
        lambda: worker.assert_running() or " ready." in worker.log(),
        describe=worker.describe,
    )
    return worker


class Api:
    """A tiny JSON client for the live server (urllib, so no new dependency)."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def call(self, method: str, path: str, body=None, token: str | None = None):
        """Returns (status, headers, parsed JSON body)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                status, headers, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, raw = error.code, error.headers, error.read()
        return status, headers, json.loads(raw) if raw else None


@pytest.fixture
def live_api(start_process):
    """The Procfile's `web` command on a free port of 127.0.0.1, waited for until /healthz answers 200."""
    port = free_port()
    argv = [(f"127.0.0.1:{port}" if arg.startswith("127.0.0.1:") else arg) for arg in procfile_command("web")]
    server = start_process("web", argv)
    api = Api(f"http://127.0.0.1:{port}")
    wait_until_healthy(api, server)
    api.process = server
    return api


def wait_until_healthy(api: "Api", process: "LiveProcess") -> None:
    """Wait (bounded) until the server process answers GET /healthz with 200."""

    def healthy():
        process.assert_running()
        try:
            return api.call("GET", "/healthz")[0] == 200
        except OSError:
            return False

    wait_until(healthy, describe=process.describe)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can print process logs on failure."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
