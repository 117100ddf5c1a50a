"""(8) Presence at an organisation's scale: watch lists against everyone-to-everyone, on one daphne process.

20k users; 10k sockets, each watching 50 users (observers watch the users who change, staff watch
everyone with a full snapshot); the users who change flip between active and idle over their own
sockets at a steady rate. The same load runs twice in one run: scoped (watch lists) and as every
socket watching everyone, which is what a client that names no list gets.

The client is lean, one asyncio process: sockets count the bytes they receive, and only the
observers and a few sampled sockets decode JSON. Each socket users' session exists before it
connects (as after a login), so a connect is a settled heartbeat, as a returning client's is.
"""

import asyncio
import random
import statistics
import time
from datetime import timedelta

import orjson
import psutil
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench import database, processes
from bench.realtime import _http, _keep_fresh, _raise_file_limit
from bench.scenarios import percentile
from users.auth import revocation
from users.models import PresenceSession, User
from users.presence import clock as presence_clock
from users.sockets.protocol import PATH

OPEN_CONCURRENCY = 256  # handshakes in flight from the client: a page each, so many at once (the backlog is 1024)
OPEN_TIMEOUT = 60
PUSH_WAIT = 5  # seconds a change may take to reach an observer before it counts as missed
MAX_MESSAGE_BYTES = 64 * 2**20
STAFF_ID = 1  # the seed's one staff user


class Lean:
    """One client socket: counts what it receives; with `decode`, records when it first sees each armed change."""

    __slots__ = (
        "ws",
        "task",
        "decode",
        "bytes",
        "first_bytes",
        "ready",
        "closed",
        "received",
        "foreign",
        "watch",
        "user_id",
        "errors",
    )

    def __init__(self, decode: bool, watch, user_id: int):
        self.ws = self.task = None
        self.user_id = user_id
        self.decode, self.watch = decode, watch
        self.bytes = self.first_bytes = 0
        self.ready = asyncio.Event()
        self.closed = False
        self.received: dict[int, float] = {}  # change number -> when it arrived
        self.foreign = 0  # entries of users this socket does not watch (must stay 0)
        self.errors: list[str] = []  # error messages the server sent (must stay empty)

    async def start(self, url: str, token: str, since: str | None, armed: dict) -> None:
        self.ws = await connect(
            url, open_timeout=OPEN_TIMEOUT, close_timeout=2, ping_interval=None, max_size=MAX_MESSAGE_BYTES
        )
        auth = {"type": "auth", "access": token, "since": since}
        if self.watch is not None:
            auth["watch"] = self.watch
        await self.ws.send(orjson.dumps(auth).decode())
        self.task = asyncio.create_task(self.read(armed))
        await asyncio.wait_for(self.ready.wait(), OPEN_TIMEOUT)
        if self.closed:
            raise RuntimeError(f"closed before its first answer: {self.ws.close_code}")

    async def read(self, armed: dict) -> None:
        watched = None if self.watch in (None, "all") else set(self.watch)
        try:
            async for raw in self.ws:
                self.bytes += len(raw)
                if raw.startswith('{"type":"error"'):
                    self.errors.append(raw)
                    continue
                if not self.ready.is_set():
                    self.first_bytes += len(raw)
                    if '"more":true' not in raw:
                        self.ready.set()
                    continue
                if not self.decode:
                    continue
                at = time.monotonic()
                for user in orjson.loads(raw).get("users", ()):
                    if watched is not None and user["id"] not in watched:
                        self.foreign += 1
                    change = armed.get(user["id"])
                    if change is not None and user["online_status"] == change[1] and change[0] not in self.received:
                        self.received[change[0]] = at
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


def _mint(user_ids: list[int]) -> list[tuple[int, str]]:
    """An access token and an open session per entry (ids may repeat: one session each), as a login leaves them."""
    from rest_framework_simplejwt.tokens import RefreshToken

    users = User.objects.in_bulk(set(user_ids))
    now = presence_clock.now()
    tokens, sessions = [], []
    for user_id in user_ids:
        refresh = RefreshToken.for_user(users[user_id])
        refresh[revocation.SESSION_CLAIM] = refresh["jti"]
        tokens.append((user_id, str(refresh.access_token)))
        sessions.append(
            PresenceSession(sid=refresh["jti"], user_id=user_id, state="active", started_at=now, last_seen=now)
        )
    PresenceSession.objects.bulk_create(sessions, batch_size=5000)
    return tokens


def _plan(cfg) -> dict:
    """Who holds which socket and watches whom; every run of the scenario draws the same."""
    rng = random.Random(19)
    regular_ids = list(range(2, 2 + cfg.org_sockets - cfg.org_staff))
    changers = list(range(2 + len(regular_ids), 2 + len(regular_ids) + cfg.org_changers))
    everyone = range(1, cfg.org_users + 1)
    observers = set(regular_ids[: cfg.org_observers])
    sampled = set(regular_ids[cfg.org_observers : cfg.org_observers + cfg.org_sampled])
    watch = {uid: (changers if uid in observers else rng.sample(everyone, cfg.org_watch)) for uid in regular_ids}
    return {"regular": regular_ids, "changers": changers, "observers": observers, "sampled": sampled, "watch": watch}


def _prepare(cfg, plan: dict) -> None:
    """Everyone offline; the socket users and the changers settled online, as if active a moment ago."""
    database.seed_users(cfg.org_users, cfg.password_hash)
    now = presence_clock.now()
    User.objects.update(online_status="offline", last_seen=now - timedelta(days=1), last_active=None)
    online = [STAFF_ID, *plan["regular"], *plan["changers"]]
    User.objects.filter(pk__in=online).update(online_status="online", last_seen=now, last_active=now)


class Fleet:
    """The sockets of one run, opened with bounded concurrency."""

    def __init__(self, url: str):
        self.url = url
        self.armed: dict[int, tuple[int, str]] = {}  # user id -> (change number, status it changes to)
        self.sockets: dict[str, list[Lean]] = {"regular": [], "observer": [], "sampled": [], "staff": [], "changer": []}
        self.failures: list[str] = []

    async def open(self, entries: list[tuple]) -> float:
        """Open (kind, user id, token, watch, since) sockets; the seconds until every one had its first answer."""
        began, gate = time.monotonic(), asyncio.Semaphore(OPEN_CONCURRENCY)

        async def one(kind: str, user_id: int, token: str, watch, since) -> None:
            async with gate:
                sock = Lean(kind in ("observer", "sampled"), watch, user_id)
                try:
                    await sock.start(self.url, token, since, self.armed)
                except Exception as exc:  # counted and reported
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    sock.abort()
                    return
                self.sockets[kind].append(sock)

        await asyncio.gather(*(one(*entry) for entry in entries))
        return time.monotonic() - began

    def all(self) -> list[Lean]:
        return [s for group in self.sockets.values() for s in group]

    def abort_all(self) -> None:
        for sock in self.all():
            sock.abort()


async def _churn(cfg, fleet: Fleet, seconds: float) -> dict:
    """The changers flip active/idle at cfg.org_rate a second for `seconds`; each change's delivery to the observers."""
    changers = fleet.sockets["changer"]
    state = {id(sock): "active" for sock in changers}
    sent: dict[int, float] = {}
    total = int(seconds * cfg.org_rate)
    began = time.monotonic()
    for number in range(total):
        await asyncio.sleep(max(0.0, began + number / cfg.org_rate - time.monotonic()))
        sock = changers[number % len(changers)]
        new = "idle" if state[id(sock)] == "active" else "active"
        state[id(sock)] = new
        fleet.armed[sock.user_id] = (number, "away" if new == "idle" else "online")
        sent[number] = time.monotonic()
        await sock.ws.send(orjson.dumps({"type": "state", "state": new}).decode())
    flowed = time.monotonic() - began
    observers = [s for s in fleet.sockets["observer"] if not s.closed]
    deadline = time.monotonic() + PUSH_WAIT
    while time.monotonic() < deadline and any(len(s.received) < total for s in observers):
        await asyncio.sleep(0.05)
    latencies = [at - sent[n] for s in observers for n, at in s.received.items()]
    expected = total * len(observers)
    return {
        "changes": total,
        "seconds": round(flowed, 1),
        "rate_per_second": round(total / flowed, 1),
        "observers": len(observers),
        "deliveries_expected": expected,
        "missed": expected - len(latencies),
        "p50_ms": round(1000 * percentile(latencies, 50), 1) if latencies else None,
        "p99_ms": round(1000 * percentile(latencies, 99), 1) if latencies else None,
        "max_ms": round(1000 * max(latencies), 1) if latencies else None,
        "samples_ms": sorted(round(1000 * x, 1) for x in latencies)[:: max(1, len(latencies) // 2000)],
    }


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def _run(cfg, base: str, server: psutil.Process, plan: dict, tokens: dict, scoped: bool) -> dict:
    """Open the fleet, let the changes flow, then idle: the figures of one run."""
    fleet = Fleet(base.replace("http://", "ws://") + PATH)
    fresh_stop = asyncio.Event()
    fresh = asyncio.create_task(_keep_fresh([*plan["regular"], *plan["changers"]], fresh_stop))
    try:
        # Scoped: a page loads with its watch list and no cursor. Everyone-to-everyone: no list, and a
        # cursor from one snapshot over HTTP, since 10k first answers of the whole organisation (3 MB
        # each) would be the whole run; the first answer of one socket with no cursor is measured alone.
        since = None if scoped else _http(base, "GET", "/api/users/presence/", None, tokens["staff"][0])[0]["cursor"]
        changers = [("changer", uid, tokens["changer"][uid], [] if scoped else None, since) for uid in plan["changers"]]
        viewers = []
        for uid in plan["regular"]:
            kind = "observer" if uid in plan["observers"] else "sampled" if uid in plan["sampled"] else "regular"
            viewers.append((kind, uid, tokens["regular"][uid], plan["watch"][uid] if scoped else None, since))
        staff = [("staff", STAFF_ID, token, "all" if scoped else None, None) for token in tokens["staff"]]
        await fleet.open(changers)
        await asyncio.sleep(1)
        rss_before, cpu0 = server.memory_info().rss, _cpu(server)
        random.Random(7).shuffle(viewers)
        open_seconds = await fleet.open(viewers)
        await asyncio.sleep(1)
        # The staff sockets last, so that what their full snapshots leave in the process shows apart.
        rss_viewers = server.memory_info().rss
        open_seconds += await fleet.open(staff)
        open_cpu = _cpu(server) - cpu0
        fresh_stop.set()
        await asyncio.sleep(cfg.org_settle_seconds)
        held = len(fleet.all()) - len(fleet.sockets["changer"])
        rss_after = server.memory_info().rss
        bytes0 = {id(s): s.bytes for s in fleet.all()}
        cpu1, at1 = _cpu(server), time.monotonic()
        churn = await _churn(cfg, fleet, cfg.org_churn_seconds)
        cpu2, at2 = _cpu(server), time.monotonic()
        regular = [s for s in fleet.sockets["regular"] + fleet.sockets["sampled"] if not s.closed]
        rates = sorted((s.bytes - bytes0[id(s)]) / (at2 - at1) for s in regular)
        await asyncio.sleep(1)
        cpu3, at3 = _cpu(server), time.monotonic()
        await asyncio.sleep(cfg.org_idle_seconds)
        cpu4, at4 = _cpu(server), time.monotonic()
        rss_end = server.memory_info().rss
        idle_percent = 100 * (cpu4 - cpu3) / (at4 - at3)
        churn_percent = 100 * (cpu2 - cpu1) / (at2 - at1)
        marginal = (cpu2 - cpu1) - (idle_percent / 100) * (at2 - at1)
        first = sorted(s.first_bytes for s in fleet.sockets["regular"] + fleet.sockets["sampled"])
        return {
            "scoped": scoped,
            "sockets": held,
            "failures": len(fleet.failures),
            "failure_examples": fleet.failures[:3],
            "open_seconds": round(open_seconds, 1),
            "open_cpu_ms_per_socket": round(1000 * open_cpu / max(1, held), 2),
            "rss_mib": round(rss_after / 2**20, 1),
            "kib_per_socket": round((rss_after - rss_before) / 1024 / max(1, held), 1),
            "kib_per_regular_socket": round((rss_viewers - rss_before) / 1024 / max(1, len(viewers)), 1),
            "kib_per_staff_socket": round((rss_after - rss_viewers) / 1024 / max(1, len(staff)), 1),
            # After the changes and the idle time: what pushes queued for slow sockets leaves behind.
            "kib_per_socket_at_end": round((rss_end - rss_before) / 1024 / max(1, held), 1),
            "alive_at_end": sum(not s.closed for s in fleet.all()),
            "churn": churn,
            "churn_cpu_percent": round(churn_percent, 1),
            "idle_cpu_percent": round(idle_percent, 2),
            "cpu_ms_per_change": round(1000 * marginal / max(1, churn["changes"]), 2),
            "regular_bytes_per_second_mean": round(statistics.mean(rates), 1) if rates else None,
            "regular_bytes_per_second_p99": round(percentile(rates, 99), 1) if rates else None,
            "first_answer_bytes_p50": percentile(first, 50) if first else None,
            "first_answer_bytes_max": max(first) if first else None,
            "staff_first_answer_bytes": max((s.first_bytes for s in fleet.sockets["staff"]), default=None),
            "foreign_entries": sum(s.foreign for s in fleet.sockets["observer"] + fleet.sockets["sampled"]),
            "errors": sum(len(s.errors) for s in fleet.all()),
            "error_examples": [e for s in fleet.all() for e in s.errors][:3],
            "closed_by_server": [s.ws.close_code for s in fleet.all() if s.closed][:5],
        }
    finally:
        fresh_stop.set()
        await fresh
        fleet.abort_all()


def organisation(cfg, env: dict) -> dict:
    """Both runs, scoped and everyone-to-everyone, on a fresh daphne process each, and their ratios."""
    _raise_file_limit(cfg.org_sockets + cfg.org_changers + 1_000)
    plan = _plan(cfg)
    results = {}
    for scoped in (True, False):
        _prepare(cfg, plan)
        tokens = {
            "regular": dict(_mint(plan["regular"])),
            "changer": dict(_mint(plan["changers"])),
            "staff": [token for _, token in _mint([STAFF_ID] * cfg.org_staff)],
        }
        with processes.daphne(env) as (base, process):
            server = psutil.Process(process.pid)
            results["scoped" if scoped else "everyone"] = asyncio.run(_run(cfg, base, server, plan, tokens, scoped))
    results["sizes"] = {
        "users": cfg.org_users,
        "sockets": cfg.org_sockets,
        "watch": cfg.org_watch,
        "observers": cfg.org_observers,
        "sampled": cfg.org_sampled,
        "staff": cfg.org_staff,
        "changers": cfg.org_changers,
        "rate": cfg.org_rate,
    }
    return results
