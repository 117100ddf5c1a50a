"""PostgreSQL stalled (every process SIGSTOPped) for 8 s, partitioned for 8 s (a relay holding what both sides send),
then stopped and started again (pg_ctl) for 8 s, under load on compose's web command (daphne) and on README's HTTP-only
gunicorn (3 workers) at once: on each, 30 users heartbeating every second, an admin reading all-users every second,
/livez and /readyz probed; the Procfile's worker with beat sweeping every second.

Measured for each fault: the answers made after its first 2 s (JSON 200 or 503, each within 2 s), the probes (/livez
200, /readyz 503, each within 1 s), how soon after its end every answer is 200 again (within 8 s, the same processes),
that the sweep runs again, and that no admin read shows a heartbeating user as anything but online, during the fault
or after it. `pytest tests/faults/test_postgres_stall_under_load.py -s` prints the figures.
"""

import asyncio
import contextlib
import itertools
import json
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
import pytest
from django.conf import settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.faults.conftest import ONCE, HoldingRelay
from tests.live.conftest import ROOT, Api, LiveProcess, free_port, procfile_command, wait_until, wait_until_healthy
from tests.sockets.test_compose_web import compose_web_command
from users.sockets.protocol import PATH

pytestmark = [pytest.mark.live, ONCE]
USERS, FAULT_SECONDS = 30, 8
# The bounds: answers after a fault's first 2 s, the probes, and the recovery after its end.
SETTLING, ANSWER_BOUND, PROBE_BOUND, RECOVERY_BOUND = 2, 2, 1, 8
# Short enough for a test; the timeout is the issue's, long enough that an 8 s outage must not show anyone offline.
SERVED = {
    "DB_CLIENT_DEADLINE_SECONDS": "1",
    "DB_BREAKER_OPEN_SECONDS": "1",
    "DB_STATEMENT_TIMEOUT_SECONDS": "0.8",
    "PRESENCE_LOCK_TIMEOUT_SECONDS": "0.5",
    "PRESENCE_TIMEOUT_SECONDS": "20",
    "PRESENCE_SWEEP_SECONDS": "1",
}
SEED = """
import json
from django.contrib.auth.hashers import make_password
from users.models import User
password = make_password("unused-" + "x" * 20)
made = User.objects.bulk_create(
    [User(username=f"{prefix}-admin", password=password, is_staff=True)]
    + [User(username=f"{prefix}-{i}", password=password) for i in range(count)]
)
print(json.dumps([user.pk for user in made]))
"""


@dataclass
class Answer:
    kind: str
    started: float
    took: float
    status: int | str
    offline: list  # for an admin read: heartbeating users it showed as anything but online


@pytest.fixture(scope="module")
def cluster(module_postgres_cluster, tmp_path_factory):
    """The module's cluster, migrated once, and the environment every process of these tests runs with."""
    workdir = tmp_path_factory.mktemp("served")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("DB_", "PRESENCE_", "CELERY_"))}
    for name in ("REDIS_URL", "DEBUG", "DATABASE_URL"):
        env.pop(name, None)
    env.update(
        SERVED,
        DJANGO_SETTINGS_MODULE="offchat_backend.settings.production",
        SECRET_KEY=settings.SECRET_KEY,  # the tests mint the users' access tokens
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=module_postgres_cluster.url,
        CELERY_BROKER_URL="filesystem://localhost/",
        CELERY_BROKER_FOLDER=str(workdir / "broker"),
        OFFCHAT_VAR_DIR=str(workdir / "var"),
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run(manage + ["migrate", "--noinput"], env=env, cwd=ROOT, check=True, timeout=120, capture_output=True)
    module_postgres_cluster.env = env
    return module_postgres_cluster


def seed(cluster, prefix: str, count: int = USERS) -> tuple[int, list[int]]:
    """An admin and `count` users of this test's own; returns their ids."""
    script = f"prefix, count = {prefix!r}, {count}\n" + SEED
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", script],
        env=cluster.env,
        cwd=ROOT,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    admin, *users = json.loads(done.stdout.strip().splitlines()[-1])
    return admin, users


def access_token(user_id: int) -> str:
    """An access token of a fresh session, signed with the servers' key; its first heartbeat opens the session."""
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken()
    token["user_id"], token["sid"] = user_id, uuid.uuid4().hex
    return str(token)


def server_command(kind: str, port: int) -> list[str]:
    if kind == "daphne":
        return compose_web_command(port)
    # README's HTTP-only deployment.
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    return [gunicorn, "offchat_backend.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "3"]


BREAKER_OPEN = re.compile(r'^offchat_database_breaker_state\{state="(open|half-open)"\} 1\.0$', re.M)


def scrape(api: Api) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{api.base_url}/metrics", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def last_sweep(cluster) -> datetime | None:
    with psycopg.connect(cluster.url, autocommit=True, connect_timeout=5) as check:
        row = check.execute("SELECT finished_at FROM presence_sweep_record").fetchone()
    return row[0] if row else None


class Load:
    """USERS heartbeating and one admin reading all-users, each once a second; /livez and /readyz twice a second."""

    def __init__(self, api: Api, admin: int, users: list[int]):
        self.api, self.users = api, set(users)
        self.answers: list[Answer] = []
        self.stop = threading.Event()
        clients = [(f"heartbeat-{i}", "POST", "/api/users/heartbeat/", access_token(i), 1.0) for i in users]
        clients += [("admin", "GET", "/api/users/all-users/", access_token(admin), 1.0)]
        clients += [("livez", "GET", "/livez", None, 0.5), ("readyz", "GET", "/readyz", None, 0.5)]
        self.threads = [threading.Thread(target=self._client, args=client, daemon=True) for client in clients]
        for thread in self.threads:
            thread.start()

    def _client(self, kind, method, path, token, every):
        deadline = time.monotonic() + 150  # bounded whatever happens
        while not self.stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            status, offline = self._call(method, path, token)
            took = time.monotonic() - started
            self.answers.append(Answer(kind, started, took, status, offline))
            time.sleep(max(0.0, every - took))

    def _call(self, method, path, token):
        try:
            status, headers, body = self.api.call(method, path, {} if method == "POST" else None, token=token)
        except (OSError, urllib.error.URLError, json.JSONDecodeError) as exc:
            return type(exc).__name__, []  # no answer, or not JSON: fails the checks below
        api = path.startswith("/api/")
        if api and status == 503 and not (body.get("code") == "service_unavailable" and headers.get("Retry-After")):
            return "503 without Retry-After or its code", []
        offline = []
        if path == "/api/users/all-users/" and status == 200:
            offline = [
                (u["id"], u["online_status"]) for u in body if u["id"] in self.users and u["online_status"] != "online"
            ]
        return status, offline

    def since(self, at: float, kinds=None) -> list[Answer]:
        return [a for a in list(self.answers) if a.started >= at and (kinds is None or a.kind.startswith(kinds))]

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(20)


def recovered(load: Load, ended: float) -> bool:
    """Every client answered 200 in its latest call, made after the end, and made another since."""
    latest: dict[str, list[Answer]] = {}
    for answer in load.since(ended, ("heartbeat", "admin")):
        latest.setdefault(answer.kind, []).append(answer)
    return len(latest) == USERS + 1 and all(
        len(a) >= 2 and a[-1].status == a[-2].status == 200 for a in latest.values()
    )


@pytest.fixture
def served(cluster, tmp_path):
    """Compose's daphne and README's gunicorn, each with an admin and USERS users of its own, and one worker with
    beat, all reaching the database through one relay; yields ({kind: (Api, admin, users, process)}, relay, worker)."""
    relay = HoldingRelay(cluster.port)
    env = {**cluster.env, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{relay.port}/offchat"}
    servers, processes = {}, []
    try:
        for kind in ("daphne", "gunicorn"):
            port = free_port()
            processes.append(LiveProcess(kind, server_command(kind, port), env, tmp_path / f"{kind}.log"))
            servers[kind] = [Api(f"http://127.0.0.1:{port}"), *seed(cluster, kind), processes[-1]]
        worker_argv = procfile_command("worker") + ["--hostname", f"stall-{uuid.uuid4().hex[:8]}@%h"]
        processes.append(worker := LiveProcess("worker", worker_argv, env, tmp_path / "worker.log"))
        for api, _, _, process in servers.values():
            wait_until_healthy(api, process)
        wait_until(lambda: worker.assert_running() or " ready." in worker.log(), describe=worker.describe)
        yield servers, relay, worker
    except BaseException:
        print(*(process.describe() for process in processes))
        raise
    finally:
        for process in processes:
            process.stop()
        relay.close()


def test_a_stalled_partitioned_or_stopped_postgres_under_load_answers_fast_recovers_and_shows_no_one_offline(
    served, cluster
):
    servers, relay, worker = served
    processes = [process for *_, process in servers.values()] + [worker]
    pids = [process.popen.pid for process in processes]
    stalled: list[int] = []
    faults = {
        "stall": (lambda: stalled.extend(cluster.stall()), lambda: cluster.resume(stalled)),
        "partition": (lambda: setattr(relay, "partitioned", True), lambda: setattr(relay, "partitioned", False)),
        # The "seen once": PostgreSQL stopped and started again.
        "stop": (cluster.stop, cluster.start),
    }
    loads = {kind: Load(api, admin, users) for kind, (api, admin, users, _) in servers.items()}
    report, scrapes = [], []
    try:
        time.sleep(3)
        warmed = time.monotonic()
        for name, (start_fault, end_fault) in faults.items():
            start_fault()
            onset = time.monotonic()
            try:
                time.sleep(SETTLING + 1)
                scrapes += [(kind, scrape(api)) for kind, (api, *_) in servers.items()]
                time.sleep(FAULT_SECONDS - (time.monotonic() - onset))
            finally:
                end_fault()
            ended, ended_at = time.monotonic(), datetime.now(UTC)
            for load in loads.values():
                wait_until(lambda: recovered(load, ended), timeout=RECOVERY_BOUND + 4)  # noqa: B023
            wait_until(lambda: (last_sweep(cluster) or ended_at) > ended_at, timeout=RECOVERY_BOUND)  # noqa: B023
            swept_after = time.monotonic() - ended
            time.sleep(1)
            report.append((name, onset, ended, swept_after, time.monotonic()))
    finally:
        stalled and cluster.resume(stalled)
        for load in loads.values():
            load.close()

    for (name, onset, ended, swept_after, until), (kind, load) in itertools.product(report, loads.items()):
        during = [a for a in load.since(onset + SETTLING) if a.started <= ended]
        answers = [a for a in during if a.kind.startswith(("heartbeat", "admin"))]
        livez = [a for a in during if a.kind == "livez"]
        readyz = [a for a in during if a.kind == "readyz"]
        after = [a for a in load.since(ended, ("heartbeat", "admin")) if a.started < until]
        late = [a.started - ended for a in after if a.status != 200]
        times = sorted(a.took for a in answers)
        print(
            f"postgres {name} on {kind}: answers after the first {SETTLING}s n={len(answers)} "
            f"200={sum(a.status == 200 for a in answers)} 503={sum(a.status == 503 for a in answers)} "
            f"p50={statistics.median(times) * 1000:.0f}ms max={times[-1] * 1000:.0f}ms; "
            f"livez max={max(a.took for a in livez) * 1000:.0f}ms readyz max={max(a.took for a in readyz) * 1000:.0f}ms; "
            f"all 200 again {max(late, default=0):.1f}s after the end; a sweep {swept_after:.1f}s after it"
        )
        assert len(answers) >= USERS * (FAULT_SECONDS - SETTLING) * 0.8, len(answers)
        assert all(a.status in (200, 503) and a.took < ANSWER_BOUND for a in answers), [
            a for a in answers if a.status not in (200, 503) or a.took >= ANSWER_BOUND
        ]
        assert livez and all(a.status == 200 and a.took < PROBE_BOUND for a in livez), livez
        assert readyz and all(a.status == 503 and a.took < PROBE_BOUND for a in readyz), readyz
        assert max(late, default=0) <= RECOVERY_BOUND, late
    # /metrics answers during each fault, its presence figures left out, the breaker's state in.
    assert all(status == 200 and BREAKER_OPEN.search(text) for _, (status, text) in scrapes), scrapes
    for kind, load in loads.items():
        warm = load.since(warmed, "admin")
        assert [a.offline for a in warm if a.offline] == [], f"a heartbeating user read offline on {kind}"
        assert sum(a.status == 200 for a in warm) >= 5
    assert [process.popen.pid for process in processes] == pids and all(p.popen.poll() is None for p in processes)
    # The worker and its beat are guarded too: their own breakers opened, and closed again.
    assert "database breaker closed -> open" in worker.log() and "-> closed" in worker.log()


# --- The same stall under 1,000 held sockets ------------------------------------------------------------------
SOCKETS, SOCKET_USERS, STAFF_SOCKETS = 1000, 40, 50
OPEN_CONCURRENCY = 64
CATCH_UP_BOUND = 20


class Held:
    """One client socket: the view its pushes build, its cursor, and how it ended (its close code, or none)."""

    def __init__(self, url: str, user_id: int, staff: bool):
        self.url, self.user_id, self.staff, self.token = url, user_id, staff, access_token(user_id)
        self.view: dict[int, str] = {}
        self.cursor = self.ws = None
        self.ready, self.ponged = asyncio.Event(), asyncio.Event()
        self.ended: int | str | None = None  # a close code; "lost" for a connection gone without one
        self.unavailable = 0  # 4503 closes, each followed by a reconnect from the cursor

    async def run(self) -> None:
        while True:
            try:
                async with connect(self.url, open_timeout=30, close_timeout=2, ping_interval=None, proxy=None) as ws:
                    self.ws = ws
                    await ws.send(orjson.dumps({"type": "auth", "access": self.token, "since": self.cursor}).decode())
                    async for raw in ws:
                        self._apply(orjson.loads(raw))
                code = ws.close_code
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else "lost"
            except OSError as exc:
                code = f"lost: {type(exc).__name__}"
            if code == 4503 and self.unavailable < 5:  # the client's rule: back off, resume from the cursor
                self.unavailable += 1
                await asyncio.sleep(0.5)
                continue
            self.ended = code
            self.ready.set()
            return

    def _apply(self, message: dict) -> None:
        if message["type"] == "pong":
            self.ponged.set()
        if message["type"] != "presence":
            return
        self.view.update({user["id"]: user["online_status"] for user in message["users"]})
        if not message.get("more"):
            self.cursor = message["cursor"]
            self.ready.set()


class Fleet:
    """The held sockets, driven by an event loop on a thread of its own; the test thread asks it through run()."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sockets: list[Held] = []

    def run(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def open(self, sockets: list[Held]) -> None:
        self.sockets = sockets
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)

        async def one(sock: Held) -> None:
            async with gate:
                sock.task = asyncio.create_task(sock.run())
                await asyncio.wait_for(sock.ready.wait(), 30)

        await asyncio.gather(*(one(sock) for sock in sockets))

    async def ping(self, sockets: list[Held]) -> list[float]:
        """Each socket's application ping answered, in seconds."""

        async def one(sock: Held) -> float:
            sock.ponged.clear()
            started = time.monotonic()
            await sock.ws.send('{"type": "ping"}')
            await asyncio.wait_for(sock.ponged.wait(), 5)
            return time.monotonic() - started

        return await asyncio.gather(*(one(sock) for sock in sockets))

    async def wrong(self, truth: dict[bool, dict[int, str]]) -> list[tuple[int, int, str | None, str]]:
        """(socket, user, what it holds, what a full read shows) for every open socket whose view differs."""
        return [
            (n, user_id, sock.view.get(user_id), status)
            for n, sock in enumerate(self.sockets)
            if sock.ended is None
            for user_id, status in truth[sock.staff].items()
            if sock.view.get(user_id) != status
        ]

    async def close(self) -> None:
        for sock in self.sockets:
            if sock.ws is not None:
                await sock.ws.close()
        await asyncio.gather(*(sock.task for sock in self.sockets if hasattr(sock, "task")), return_exceptions=True)


def full_read(api: Api, tokens: dict[bool, str]) -> dict[bool, dict[int, str]]:
    """Every user's status as a staff viewer and as anyone else sees it, from all-users (a fresh, full read)."""
    truth = {}
    for staff, token in tokens.items():
        status, _, body = api.call("GET", "/api/users/all-users/", token=token)
        assert status == 200, body
        truth[staff] = {user["id"]: user["online_status"] for user in body}
    return truth


def heartbeats(api: Api, user_id: int, stop: threading.Event) -> threading.Thread:
    """A user heartbeating over HTTP every second until `stop` (a tab without a socket)."""
    token = access_token(user_id)

    def beat():
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                api.call("POST", "/api/users/heartbeat/", {}, token=token)
            stop.wait(1)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    return thread


def logged_out(api: Api, sock: Held, bound: float = 10) -> None:
    """Log the socket's session out over HTTP, retried while the database is not back (503), within `bound`."""
    deadline = time.monotonic() + bound
    while (
        status := api.call("POST", "/api/users/logout/", {}, token=sock.token)[0]
    ) == 503 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status == 200, status


def test_a_stall_under_1000_held_sockets_loses_none_and_every_viewer_catches_up(cluster, tmp_path):
    admin, users = seed(cluster, "sockets", SOCKET_USERS + 4)
    regular, (leaver_1, leaver_2), (actor_a, actor_b) = users[:SOCKET_USERS], users[-4:-2], users[-2:]
    port = free_port()
    env = {**cluster.env, "PRESENCE_TOUCH_SECONDS": "2"}
    server = LiveProcess("daphne", compose_web_command(port), env, tmp_path / "daphne.log")
    fleet, stop, stalled = Fleet(), threading.Event(), []
    try:
        api = Api(f"http://127.0.0.1:{port}")
        wait_until_healthy(api, server)
        url = f"ws://127.0.0.1:{port}{PATH}"
        sockets = [Held(url, admin, True) for _ in range(STAFF_SOCKETS)]
        sockets += [Held(url, regular[n % SOCKET_USERS], False) for n in range(SOCKETS - STAFF_SOCKETS - 2)]
        sockets += [Held(url, leaver_1, False), Held(url, leaver_2, False)]
        started = time.monotonic()
        fleet.run(fleet.open(sockets), timeout=120)
        opened = time.monotonic() - started
        assert all(sock.ended is None for sock in sockets), Counter(sock.ended for sock in sockets)
        tokens = {True: sockets[0].token, False: sockets[STAFF_SOCKETS].token}

        heartbeats(api, actor_a, stop)  # a change just before the stall, and a logout whose close is due in it
        logged_out(api, sockets[-2])
        stalled.extend(cluster.stall())
        onset = time.monotonic()
        time.sleep(3)
        pongs = fleet.run(fleet.ping(random.sample(sockets[:-2], 20)))
        time.sleep(max(0.0, FAULT_SECONDS - (time.monotonic() - onset)))
        cluster.resume(stalled)
        ended = time.monotonic()
        logged_out(api, sockets[-1])  # and another just after it
        heartbeats(api, actor_b, stop)

        def caught_up():
            truth = full_read(api, tokens)
            left = all(sock.ended == 4401 for sock in sockets[-2:])
            expected = (
                truth[False][actor_a] == truth[False][actor_b] == "online" and truth[False][leaver_1] == "offline"
            )
            return left and expected and not fleet.run(fleet.wrong(truth))

        wait_until(
            caught_up,
            timeout=CATCH_UP_BOUND,
            interval=0.5,
            describe=lambda: str(fleet.run(fleet.wrong(full_read(api, tokens)))[:10]),
        )
        caught_up_after = time.monotonic() - ended
        ends = Counter(sock.ended for sock in sockets)
        print(
            f"postgres stall under {SOCKETS} sockets: opened in {opened:.1f}s; ping during the stall max="
            f"{max(pongs) * 1000:.0f}ms; every viewer caught up {caught_up_after:.1f}s after the end; "
            f"ends {dict(ends)}; 4503 reconnects {sum(sock.unavailable for sock in sockets)}"
        )
        assert max(pongs) < PROBE_BOUND, pongs
        assert ends == {None: SOCKETS - 2, 4401: 2}, ends  # only the two logged-out sessions closed, with 4401
        assert "presence hub cycle recovered" in server.log()  # the same hub, no restart
    finally:
        stalled and cluster.resume(stalled)
        stop.set()
        with contextlib.suppress(Exception):
            fleet.run(fleet.close(), timeout=30)
        fleet.loop.call_soon_threadsafe(fleet.loop.stop)
        server.stop()
