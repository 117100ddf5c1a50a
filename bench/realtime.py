"""(7) The presence socket: push latency to viewer sockets, the idle cost of held sockets, a closed tab, servers compared.

The client side is one asyncio process (this one) with the `websockets` library: each socket costs the
client a task and a few buffers. Tokens are minted in bulk (scenarios.access_token), as for wrk. Sockets
connect from 127.0.0.1: towards one server port, 10k sockets take 10k of the 28k ephemeral ports, so
they need no spreading over source addresses.
"""

import asyncio
import contextlib
import json
import random
import resource
import statistics
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import orjson
import psutil
from django.conf import settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench import database, processes
from bench.scenarios import access_token, percentile, ratio
from users.models import PresenceSession, User
from users.presence import clock as presence_clock
from users.sockets.protocol import PATH

OPEN_CONCURRENCY = 64  # handshakes in flight: the server authenticates on one thread, so more only queue
OPEN_TIMEOUT = 30  # per socket, from connect to its first presence message
PUSH_WAIT = 5  # seconds a change may take to reach every viewer before it counts as missed
POLL_SAMPLES = 20_000  # draws of the derived polling delay
MAX_MESSAGE_BYTES = 64 * 2**20


class Sock:
    """One client socket: records the first time it sees each watched (user id, status) after it was armed."""

    __slots__ = ("ws", "user_id", "cursor", "ready", "seen", "task", "pushes", "closed")

    def __init__(self, user_id: int):
        self.user_id, self.cursor, self.ws, self.task = user_id, None, None, None
        self.ready = asyncio.Event()
        self.seen: dict[tuple[int, str], float] = {}
        self.pushes = 0
        self.closed = False

    async def start(self, url: str, token: str, since: str | None, watched: set) -> None:
        # The client offers permessage-deflate, as browsers do; the server decides. The first socket's
        # snapshot of every user is several MB, over the library's 1 MiB default.
        self.ws = await connect(
            url,
            open_timeout=OPEN_TIMEOUT,
            close_timeout=2,
            ping_interval=None,
            max_size=MAX_MESSAGE_BYTES,
        )
        await self.ws.send(orjson.dumps({"type": "auth", "access": token, "since": since}).decode())
        self.task = asyncio.create_task(self.read(watched))
        await asyncio.wait_for(self.ready.wait(), OPEN_TIMEOUT)
        if self.cursor is None:
            raise RuntimeError(f"socket of user {self.user_id} closed before its first message: {self.ws.close_code}")

    async def read(self, watched: set) -> None:
        try:
            async for raw in self.ws:
                at = time.monotonic()
                message = orjson.loads(raw)
                if message.get("type") != "presence":
                    continue
                self.cursor = message["cursor"]
                self.pushes += 1
                for user in message["users"]:
                    key = (user["id"], user["online_status"])
                    if key in watched and key not in self.seen:
                        self.seen[key] = at
                self.ready.set()
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            self.ready.set()

    def abort(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.ws is not None and self.ws.transport is not None:
            self.ws.transport.abort()


class Fleet:
    """The client sockets of one server: opened with bounded concurrency; `watched` keys are armed before a change."""

    def __init__(self, ws_url: str):
        self.url = ws_url
        self.sockets: list[Sock] = []
        self.watched: set[tuple[int, str]] = set()
        self.failures: list[str] = []

    async def open(self, tokens: list[tuple[int, str]], since: str | None) -> float:
        """Open and authenticate a socket per (user id, token); returns the seconds it took."""
        began = time.monotonic()
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)

        async def one(user_id: int, token: str) -> None:
            async with gate:
                sock = Sock(user_id)
                try:
                    await sock.start(self.url, token, since, self.watched)
                except Exception as exc:  # counted and reported; the run fails if more than a few
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    sock.abort()
                    return
                self.sockets.append(sock)

        await asyncio.gather(*(one(uid, tok) for uid, tok in tokens))
        if len(self.failures) > len(tokens) // 100:  # 1% of a large batch; none of a small one
            raise RuntimeError(f"{len(self.failures)} of {len(tokens)} sockets failed: {self.failures[:3]}")
        return time.monotonic() - began

    def cursor(self) -> str:
        return max((s for s in self.sockets if not s.closed), key=lambda s: s.pushes).cursor

    def abort_all(self) -> None:
        for sock in self.sockets:
            sock.abort()
        self.sockets = []


def _http(base: str, method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[dict, float]:
    """One JSON request; (body, time.monotonic() when the response was read)."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = response.read()
    return json.loads(payload), time.monotonic()


def _statements(base: str) -> int:
    return _http(base, "GET", "/bench/statements/")[0]["statements"]


def _transactions() -> int:
    """Committed and rolled-back transactions in the bench database (pg_stat_database), all backends."""
    import psycopg

    with psycopg.connect(database.bench_database_url(), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return row[0] - 1  # this query's own transaction


def _raise_file_limit(needed: int) -> int:
    """Raise this process's open-file limit to its hard limit (servers started from here inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < needed:
        raise SystemExit(f"the realtime scenario needs {needed} open files; the hard limit is {hard}")
    return hard


def _freshen(user_ids: list[int]) -> None:
    """The users of sockets to be opened stay settled online, as if active on another device (no change is made)."""
    import psycopg

    with psycopg.connect(database.bench_database_url(), autocommit=True) as conn:
        conn.execute(
            "UPDATE users SET last_seen = now(), last_active = now() WHERE id = ANY(%s) AND online_status = 'online'",
            [user_ids],
        )


async def _keep_fresh(user_ids: list[int], stop: asyncio.Event) -> None:
    """_freshen() every 20 s until `stop`: opening 10k sockets outlasts PRESENCE_TIMEOUT_SECONDS, and a user timing
    out before their socket opens would come back online on opening, a change pushed to every socket."""
    while not stop.is_set():
        await asyncio.to_thread(_freshen, user_ids)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 20)


def _prepare_users(cfg) -> tuple[list[int], list[int]]:
    """Everyone offline, then the socket users settled online; returns (socket user ids, actor user ids)."""
    total = cfg.rt_held + cfg.rt_changes + 1
    database.seed_users(total, cfg.password_hash)
    socket_ids = list(range(2, 2 + cfg.rt_held))  # user 1 is staff: its feed is another class
    actors = list(range(2 + cfg.rt_held, 2 + cfg.rt_held + (cfg.rt_changes + 1) // 2))
    now = presence_clock.now()
    User.objects.update(online_status="offline", last_seen=now - timedelta(days=1), last_active=None)
    # Settled online before their sockets open: connecting raises their times and makes no change, so
    # a socket resuming from a cursor gets a short answer, as a reconnecting client does.
    User.objects.filter(pk__in=socket_ids).update(online_status="online", last_seen=now, last_active=now)
    return socket_ids, actors


def _mint(user_ids: list[int]) -> list[tuple[int, str]]:
    users = User.objects.in_bulk(user_ids)
    return [(i, access_token(users[i])) for i in user_ids]


async def _push_latency(cfg, fleet: Fleet, base: str, actors: list[int]) -> dict:
    """Logins and logouts of actors over HTTP; for each, every viewer's receipt time minus the HTTP response time."""
    rng = random.Random(12)
    latencies: list[float] = []
    per_change, missed = [], 0
    refresh: dict[int, tuple[str, str]] = {}
    # A login, then that user's logout, then the next user's login: each is one change to the feed.
    steps = [("login" if i % 2 == 0 else "logout", actors[i // 2]) for i in range(cfg.rt_changes)]
    for kind, actor in steps:
        key = (actor, "online" if kind == "login" else "offline")
        fleet.watched.add(key)  # armed: earlier pushes of this user do not count
        if kind == "login":
            body = {"username": f"user{actor}", "password": database.SEED_PASSWORD}
            answer, answered = await asyncio.to_thread(_http, base, "POST", "/api/users/login/", body)
            refresh[actor] = (answer["access"], answer["refresh"])
        else:
            access, refresh_token = refresh[actor]
            _, answered = await asyncio.to_thread(
                _http, base, "POST", "/api/users/logout/", {"refresh": refresh_token}, access
            )
        deadline = answered + PUSH_WAIT
        viewers = [s for s in fleet.sockets if not s.closed]
        while time.monotonic() < deadline and any(key not in s.seen for s in viewers):
            await asyncio.sleep(0.02)
        got = [s.seen[key] - answered for s in viewers if key in s.seen]
        missed += len(viewers) - len(got)
        latencies += got
        per_change.append(
            {"kind": kind, "p50_ms": round(1000 * percentile(got, 50), 1), "max_ms": round(1000 * max(got), 1)}
        )
        await asyncio.sleep(rng.uniform(0.1, 1.0))  # the next change lands elsewhere in the push cycle
    return {
        "viewers": len([s for s in fleet.sockets if not s.closed]),
        "changes": len(per_change),
        "receipts": len(latencies),
        "missed": missed,
        "p50_ms": round(1000 * percentile(latencies, 50), 1),
        "p99_ms": round(1000 * percentile(latencies, 99), 1),
        "max_ms": round(1000 * max(latencies), 1),
        "per_change": per_change,
        "samples_ms": [round(1000 * x, 1) for x in latencies],
    }


async def _snapshot_cursor(base: str, token: str) -> str:
    """The cursor of a full snapshot over HTTP (GET /api/users/presence/), for every socket to resume from.

    Not the socket's own snapshot: daphne refuses to send a message over 1 MiB (its
    websocket_max_message_size), about 7,000 users here, and the hub drops that failed send, so a
    socket asking for a larger snapshot waits for its first message for ever.
    """
    answer, _ = await asyncio.to_thread(_http, base, "GET", "/api/users/presence/", None, token)
    return answer["cursor"]


async def _poll_request_times(base: str, token: str, cursor: str, count: int) -> list[float]:
    """`count` polls of GET /api/users/presence/?since= over HTTP, in seconds each."""
    times = []
    for _ in range(count):
        began = time.monotonic()
        _, ended = await asyncio.to_thread(_http, base, "GET", f"/api/users/presence/?since={cursor}", None, token)
        times.append(ended - began)
    return times


def _polling(request_times: list[float]) -> dict:
    """The delay a poller sees: a change lands uniformly in its refresh interval, then the poll's request time."""
    interval = settings.PRESENCE_REFRESH_SECONDS
    rng = random.Random(10)
    delays = sorted(rng.uniform(0, interval) + rng.choice(request_times) for _ in range(POLL_SAMPLES))
    return {
        "how": f"derived: uniform [0, {interval}] s (PRESENCE_REFRESH_SECONDS) + a measured feed poll",
        "refresh_seconds": interval,
        "poll_requests": len(request_times),
        "poll_p50_ms": round(1000 * percentile(request_times, 50), 1),
        "poll_p99_ms": round(1000 * percentile(request_times, 99), 1),
        "p50_ms": round(1000 * percentile(delays, 50), 1),
        "p99_ms": round(1000 * percentile(delays, 99), 1),
        "samples_ms": [round(1000 * d, 1) for d in delays[:: max(1, len(delays) // 2000)]],
    }


async def _closed_tab(cfg, fleet: Fleet) -> dict:
    """Close a few viewer sockets; for each, the time until the other viewers see its user offline."""
    grace = settings.PRESENCE_DISCONNECT_GRACE_SECONDS
    closing = fleet.sockets[-cfg.rt_closed :]
    fleet.sockets = fleet.sockets[: -cfg.rt_closed]
    closed_at = {}
    for sock in closing:
        fleet.watched.add((sock.user_id, "offline"))
        closed_at[sock.user_id] = time.monotonic()
        await sock.ws.close()
        await asyncio.sleep(0.3)
    deadline = time.monotonic() + grace + PUSH_WAIT
    keys = [(uid, "offline") for uid in closed_at]
    while time.monotonic() < deadline and any(k not in s.seen for s in fleet.sockets for k in keys):
        await asyncio.sleep(0.05)
    rows = []
    for uid, at in closed_at.items():
        got = [s.seen[(uid, "offline")] - at for s in fleet.sockets if (uid, "offline") in s.seen]
        rows.append(
            {
                "viewers_seen": len(got),
                "first_s": round(min(got), 2) if got else None,
                "p50_s": round(percentile(got, 50), 2) if got else None,
                "max_s": round(max(got), 2) if got else None,
            }
        )
    return {
        "grace_seconds": grace,
        "closed": len(rows),
        "viewers": len(fleet.sockets),
        "each": rows,
        "max_s": max((r["max_s"] or float("inf")) for r in rows),
        "polling_range_s": [
            settings.PRESENCE_TIMEOUT_SECONDS,
            settings.PRESENCE_TIMEOUT_SECONDS + settings.PRESENCE_SWEEP_SECONDS,
        ],
    }


async def _held(
    cfg, fleet: Fleet, base: str, server: psutil.Process, tokens: list[tuple[int, str]], stop_fresh: asyncio.Event
) -> dict:
    """Grow to rt_held sockets, then hold them idle: RSS per socket, CPU, statements and transactions per minute."""
    await asyncio.sleep(1)
    before_sockets, rss_before = len(fleet.sockets), server.memory_info().rss
    seconds = await fleet.open(tokens, fleet.cursor())
    stop_fresh.set()  # every socket is open: the server's touch keeps its users alive from here
    await asyncio.sleep(cfg.rt_settle_seconds)  # joins answered, first touch done
    held, rss_after = len(fleet.sockets), server.memory_info().rss
    pushes_before = sum(s.pushes for s in fleet.sockets)
    cpu0, statements0, xacts0, began = server.cpu_times(), _statements(base), _transactions(), time.monotonic()
    await asyncio.sleep(cfg.rt_idle_seconds)
    cpu1, statements1, elapsed = server.cpu_times(), _statements(base), time.monotonic() - began
    await asyncio.sleep(1)  # PostgreSQL backends report their counters when idle
    xacts1 = _transactions()
    alive = sum(not s.closed for s in fleet.sockets)
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    per_minute = 60 / elapsed
    return {
        "sockets": held,
        "alive_after_idle": alive,
        "open_seconds": round(seconds, 1),
        "opens_per_second": round((held - before_sockets) / seconds, 1),
        "failures": len(fleet.failures),
        "rss_mib": round(rss_after / 2**20, 1),
        "rss_mib_before": round(rss_before / 2**20, 1),
        "kib_per_socket": round((rss_after - rss_before) / 1024 / max(1, held - before_sockets), 1),
        "idle_seconds": round(elapsed, 1),
        "idle_cpu_percent": round(100 * cpu / elapsed, 2),
        # The statements the server sent (one per cursor.execute), and PostgreSQL's count of
        # transactions in the bench database (every client of it; a few a minute are this bench's own reads).
        "statements_per_minute": round((statements1 - statements0 - 1) * per_minute, 1),
        "transactions_per_minute": round((xacts1 - xacts0) * per_minute, 1),
        "pushes_while_idle": sum(s.pushes for s in fleet.sockets) - pushes_before,
        "touch_seconds": settings.PRESENCE_TOUCH_SECONDS,
        "push_seconds": settings.PRESENCE_PUSH_SECONDS,
    }


async def _daphne_run(cfg, base: str, server: psutil.Process, tokens: list[tuple[int, str]], actors: list[int]):
    fleet = Fleet(base.replace("http://", "ws://") + PATH)
    stop_fresh = asyncio.Event()
    fresh = asyncio.create_task(_keep_fresh([uid for uid, _ in tokens], stop_fresh))
    try:
        opened = await fleet.open(tokens[: cfg.rt_viewers], await _snapshot_cursor(base, tokens[0][1]))
        push = await _push_latency(cfg, fleet, base, actors)
        push["open_seconds"] = round(opened, 1)
        viewer = tokens[0][1]
        polling = _polling(await _poll_request_times(base, viewer, fleet.cursor(), cfg.rt_poll_requests))
        closed = await _closed_tab(cfg, fleet)
        held = await _held(cfg, fleet, base, server, tokens[cfg.rt_viewers :], stop_fresh)
    finally:
        stop_fresh.set()
        await fresh
        fleet.abort_all()
    return push, polling, closed, held


async def _sockets_rss(cfg, base: str, server_pid: int, tokens: list[tuple[int, str]]) -> dict:
    """RSS of the process holding the sockets, before and after rt_compare_sockets more: KiB per socket."""
    fleet = Fleet(base.replace("http://", "ws://") + PATH)
    try:
        await fleet.open(tokens[:1], await _snapshot_cursor(base, tokens[0][1]))
        await asyncio.sleep(1)
        before = processes.largest_rss_mib(server_pid)
        await fleet.open(tokens[1:], fleet.cursor())
        await asyncio.sleep(cfg.rt_settle_seconds)
        after = processes.largest_rss_mib(server_pid)
        held = len(fleet.sockets)
    finally:
        fleet.abort_all()
    return {
        "sockets": held,
        "rss_mib": round(after, 1),
        "kib_per_socket": round((after - before) * 1024 / (held - 1), 1),
    }


def _stale_sessions(user_ids: list[int]) -> None:
    """Every session and user last seen 20 s ago: each user's next heartbeat is a steady-state one that writes."""
    at = presence_clock.now() - timedelta(seconds=20)
    PresenceSession.objects.filter(user_id__in=user_ids, ended_at__isnull=True).update(last_seen=at)
    User.objects.filter(pk__in=user_ids).update(online_status="online", last_seen=at, last_active=at)


def _heartbeats(cfg, env: dict, tokens_path: Path, user_ids: list[int]) -> dict:
    """POST /api/users/heartbeat/ under wrk on each server: rps, CPU ms and transactions per heartbeat."""
    servers = {
        "gunicorn_sync": lambda: processes.gunicorn(env),
        "gunicorn_uvicorn": lambda: processes.gunicorn(env, worker_class="uvicorn_worker.UvicornWorker"),
        "daphne": lambda: processes.daphne(env),
    }
    rows = {}
    for name, start in servers.items():
        _stale_sessions(user_ids)
        xacts0 = _transactions()
        with start() as (base, process):
            processes.wrk(f"{base}/bench/ping/", tokens_file=tokens_path, seconds=1, connections=4)  # warm-up
            cpu0 = processes.tree_cpu_seconds(process.pid)
            run = processes.wrk(
                f"{base}/api/users/heartbeat/",
                tokens_file=tokens_path,
                method="POST",
                seconds=cfg.load_seconds,
                connections=cfg.connections,
                allow_errors=True,  # reported: an ASGI server's connection per request can exhaust PostgreSQL's
            )
            cpu = processes.tree_cpu_seconds(process.pid) - cpu0
        time.sleep(0.5)  # the server's backends have exited and flushed their counters
        xacts = _transactions() - xacts0
        rows[name] = {
            "processes": 1 if name == "daphne" else processes.WORKERS,
            "rps": run["rps"],
            "p50_ms": run["p50_ms"],
            "p99_ms": run["p99_ms"],
            "requests": run["requests"],
            "errors": run["non_2xx"] + run["socket_errors"],
            "cpu_ms_per_heartbeat": round(1000 * cpu / run["requests"], 3),
            "transactions_per_heartbeat": round(xacts / run["requests"], 2),
            "distinct_users": len(user_ids),
        }
    return rows


def realtime(cfg, env: dict, workdir: Path) -> dict:
    """The socket figures, and the HTTP heartbeat and polling they replace, in one run."""
    limit = _raise_file_limit(cfg.rt_held + 1_000)
    socket_ids, actors = _prepare_users(cfg)
    tokens = _mint(socket_ids)
    env = {
        **env,
        "LOGIN_THROTTLE_IP_RATE": "100000/min",
        "LOGIN_THROTTLE_USERNAME_RATE": "100000/min",
        **({"PRESENCE_DISCONNECT_GRACE_SECONDS": str(cfg.rt_grace_seconds)} if cfg.rt_grace_seconds else {}),
    }
    grace = float(env.get("PRESENCE_DISCONNECT_GRACE_SECONDS", settings.PRESENCE_DISCONNECT_GRACE_SECONDS))
    settings.PRESENCE_DISCONNECT_GRACE_SECONDS = grace  # this process reports what the server used
    with processes.daphne(env) as (base, process):
        server = psutil.Process(process.pid)
        push, polling, closed, held = asyncio.run(_daphne_run(cfg, base, server, tokens, actors))
    compare_tokens = tokens[: cfg.rt_compare_sockets + 1]
    memory = {}
    for name, start in (
        ("daphne", lambda: processes.daphne(env)),
        ("gunicorn_uvicorn", lambda: processes.gunicorn(env, workers=1, worker_class="uvicorn_worker.UvicornWorker")),
    ):
        _stale_sessions(socket_ids)
        with start() as (base, process):
            memory[name] = asyncio.run(_sockets_rss(cfg, base, process.pid, compare_tokens))
    tokens_path = workdir / "socket-users.txt"
    tokens_path.write_text("\n".join(token for _, token in tokens) + "\n")
    heartbeat = _heartbeats(cfg, env, tokens_path, socket_ids)
    users = len(socket_ids)
    interval = settings.PRESENCE_HEARTBEAT_SECONDS
    hb = heartbeat["gunicorn_sync"]
    http = {
        "users": users,
        "heartbeat_seconds": interval,
        "heartbeats_per_second": round(users / interval, 1),
        "cpu_percent": round(hb["cpu_ms_per_heartbeat"] / 1000 * users / interval * 100, 1),
        "transactions_per_minute": round(hb["transactions_per_heartbeat"] * users / interval * 60, 1),
    }
    return {
        "file_limit": limit,
        "push": push,
        "polling": polling,
        "closed_tab": closed,
        "held": held,
        "http_heartbeats_same_users": http,
        "ratio_http_to_socket_cpu": ratio(http["cpu_percent"], held["idle_cpu_percent"], 1),
        "ratio_http_to_socket_transactions": ratio(http["transactions_per_minute"], held["transactions_per_minute"], 1),
        "ratio_polling_to_socket_p99": ratio(polling["p99_ms"], push["p99_ms"], 1),
        "servers": {"held_sockets": memory, "heartbeat": heartbeat},
        "push_p50_ms_median_of_changes": statistics.median(c["p50_ms"] for c in push["per_change"]),
    }
