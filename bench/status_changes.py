"""(9) Status changes against the settled heartbeat: server CPU per write, over HTTP, over the socket, and in-process.

One daphne process serves both transports. Each HTTP client thread is one user on a keep-alive
connection; each socket is one user, authenticated with a minted access token. A "change" flips its
user's only session between `active` and `idle`, so every write moves the user between online and away
(a new change position, a push); the baseline sends `active` to a user already settled online, the
one-statement heartbeat that changes nothing a reader sees. CPU is the server process's user + system
time (psutil) over each phase, divided by the writes it served.
"""

import asyncio
import http.client
import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import psutil
from websockets.asyncio.client import connect

from bench import database, processes
from bench.scenarios import access_token, ratio
from users.models import PresenceSession, User
from users.presence import clock as presence_clock
from users.presence.session_writes import (
    end_all_presence_sessions,
    end_presence_session,
    refresh_presence_session,
    start_presence_session,
)
from users.presence.socket_writes import lapse_disconnected_session
from users.sockets.protocol import PATH

# Per mode: users seeded, HTTP client threads and requests per thread and phase, sockets and the state
# messages each sends per phase (at `socket_interval` s apart: the socket's flood budget allows 1/s
# with a burst of 20), interleaved rounds, and the in-process calls per write path.
SIZES = {
    "quick": {
        "users": 1_000,
        "http_threads": 4,
        "http_requests": 40,
        "sockets": 20,
        "socket_messages": 6,
        "socket_interval": 0.5,
        "rounds": 1,
        "in_process_calls": 40,
    },
    "full": {
        "users": 10_000,
        "http_threads": 8,
        "http_requests": 150,
        "sockets": 40,
        "socket_messages": 10,
        "socket_interval": 1.0,
        "rounds": 3,
        "in_process_calls": 300,
    },
}
SETTLE_SECONDS = 1.0  # after a phase's last answer: the hub's push of its changes (every 0.5 s) is included
HEARTBEAT = "/api/users/heartbeat/"


def _states(kind: str, count: int) -> list[str]:
    """The states a phase sends to one user: `active` for the settled baseline, alternating for changes."""
    if kind == "settled":
        return ["active"] * count
    return ["idle" if n % 2 == 0 else "active" for n in range(count)]


# --- HTTP ---------------------------------------------------------------------------------------------
def _http_user(base: str, token: str, states: list[str], answers: list[str], errors: list[str]) -> None:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    try:
        for state in states:
            conn.request("POST", HEARTBEAT, body=json.dumps({"state": state}), headers=headers)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                errors.append(f"{response.status}: {body[:200]!r}")
                return
            answers.append(json.loads(body)["online_status"])
    finally:
        conn.close()


def _http_phase(base: str, server: psutil.Process, tokens: list[str], kind: str, requests: int) -> dict:
    """Every token's user sends `requests` heartbeats at once; server CPU over the phase per heartbeat."""
    answers: dict[int, list[str]] = {n: [] for n in range(len(tokens))}
    errors: list[str] = []
    threads = [
        threading.Thread(target=_http_user, args=(base, token, _states(kind, requests), answers[n], errors))
        for n, token in enumerate(tokens)
    ]
    cpu0, began = _cpu(server), time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(SETTLE_SECONDS)
    cpu, wall = _cpu(server) - cpu0, time.monotonic() - began
    if errors:
        raise RuntimeError(f"heartbeats failed: {errors[:3]}")
    expected = {"settled": {"online"}, "change": {"online", "away"}}[kind]
    seen = {status for statuses in answers.values() for status in statuses}
    if seen != expected:  # a flip that did not move the user, or a baseline that did: the ratio would lie
        raise RuntimeError(f"{kind} heartbeats answered {seen}, expected {expected}")
    return {"writes": sum(map(len, answers.values())), "cpu_seconds": cpu, "wall_seconds": wall}


# --- The socket -----------------------------------------------------------------------------------------
class _Socket:
    """One authenticated presence socket; `pong` is set when the server answered a ping (all before it is done)."""

    def __init__(self, ws):
        self.ws, self.pong, self.ready = ws, asyncio.Event(), asyncio.Event()
        self.errors: list[str] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            kind = orjson.loads(raw).get("type")
            if kind == "presence":
                self.ready.set()
            elif kind == "pong":
                self.pong.set()
            elif kind == "error":
                self.errors.append(raw[:200])

    async def states(self, states: list[str], interval: float) -> None:
        for state in states:
            if self.errors:
                raise RuntimeError(f"the server answered an error: {self.errors[0]}")
            await self.ws.send(orjson.dumps({"type": "state", "state": state}).decode())
            await asyncio.sleep(interval)
        # The consumer handles one message at a time: the pong comes after every state is written.
        self.pong.clear()
        await self.ws.send('{"type":"ping"}')
        await asyncio.wait_for(self.pong.wait(), 60)


async def _open_sockets(url: str, tokens: list[str], since: str) -> list[_Socket]:
    async def one(token: str) -> _Socket:
        ws = await connect(url, open_timeout=30, close_timeout=2, ping_interval=None, max_size=2**24)
        await ws.send(orjson.dumps({"type": "auth", "access": token, "since": since}).decode())
        sock = _Socket(ws)
        await asyncio.wait_for(sock.ready.wait(), 30)
        return sock

    return list(await asyncio.gather(*(one(token) for token in tokens)))


async def _socket_phases(
    base: str, server: psutil.Process, tokens: dict[int, str], since: str, size: dict
) -> dict[str, list[dict]]:
    """Each socket sends its states at once with the others, phase by phase; server CPU per state message."""
    sockets = await _open_sockets(base.replace("http://", "ws://") + PATH, list(tokens.values()), since)
    runs: dict[str, list[dict]] = {"settled": [], "change": []}
    try:
        await asyncio.sleep(SETTLE_SECONDS)
        for _ in range(size["rounds"]):
            for kind in ("settled", "change"):
                states = _states(kind, size["socket_messages"])
                cpu0, began = _cpu(server), time.monotonic()
                await asyncio.gather(*(sock.states(states, size["socket_interval"]) for sock in sockets))
                await asyncio.sleep(SETTLE_SECONDS)
                runs[kind].append(
                    {
                        "writes": len(states) * len(sockets),
                        "cpu_seconds": _cpu(server) - cpu0,
                        "wall_seconds": time.monotonic() - began,
                    }
                )
                if kind == "change":  # every flip ended on `active`: the users are back online, and settled
                    await asyncio.to_thread(_check_statuses, list(tokens), "online")
    finally:
        for sock in sockets:
            sock.task.cancel()
            await sock.ws.close()
    return runs


def _check_statuses(user_ids, expected: str) -> None:
    statuses = set(User.objects.filter(pk__in=list(user_ids)).values_list("online_status", flat=True))
    if statuses != {expected}:
        raise RuntimeError(f"socket users ended {statuses} after their last state message, expected {expected}")


# --- In-process: the writes alone -------------------------------------------------------------------------
def _in_process(user_ids: list[int]) -> dict:
    """CPU per call of each presence write, in this process (no web stack): the writes' own cost."""
    cpu: dict[str, float] = dict.fromkeys(
        ("login", "to_away", "to_online", "settled", "logout", "lapse", "logout_all"), 0.0
    )

    def timed(name: str, write, *args, **kwargs) -> None:
        began = time.process_time()
        result = write(*args, **kwargs)
        cpu[name] += time.process_time() - began
        assert result, (name, result)

    logout, everywhere = PresenceSession.EndReason.LOGOUT, PresenceSession.EndReason.LOGOUT_ALL
    for user_id in user_ids:
        sid, other = uuid.uuid4().hex, uuid.uuid4().hex
        timed("login", start_presence_session, user_id, sid)
        timed("to_away", refresh_presence_session, user_id, sid, state="idle")
        timed("to_online", refresh_presence_session, user_id, sid, state="active")
        timed("settled", refresh_presence_session, user_id, sid, state="active")
        timed("logout", end_presence_session, user_id, sid, reason=logout)
        start_presence_session(user_id, other)
        timed("lapse", lapse_disconnected_session, user_id, other, presence_clock.now())
        timed("logout_all", end_all_presence_sessions, user_id, reason=everywhere)
    return {name: round(1000 * seconds / len(user_ids), 3) for name, seconds in cpu.items()}


# --- The scenario -----------------------------------------------------------------------------------------
def _cpu(server: psutil.Process) -> float:
    times = server.cpu_times()
    return times.user + times.system


def _summary(runs: list[dict]) -> dict:
    writes = sum(r["writes"] for r in runs)
    cpu = sum(r["cpu_seconds"] for r in runs)
    wall = sum(r["wall_seconds"] for r in runs)
    return {
        "writes": writes,
        "cpu_ms_per_write": round(1000 * cpu / writes, 3),
        "writes_per_core_second": round(writes / cpu, 1) if cpu else None,
        "cpu_percent": round(100 * cpu / wall, 1),
        "writes_per_second": round(writes / wall, 1),
    }


def _prepare(size: dict, password_hash: str) -> tuple[list[int], list[int], list[int]]:
    """Seed the users; (HTTP users, socket users, in-process users), all offline with no session."""
    database.seed_users(size["users"], password_hash)
    User.objects.update(online_status="offline", last_seen=presence_clock.now() - timedelta(days=1), last_active=None)
    first = 2  # user 1 is staff
    http_ids = list(range(first, first + size["http_threads"]))
    socket_ids = list(range(http_ids[-1] + 1, http_ids[-1] + 1 + size["sockets"]))
    in_process = list(range(socket_ids[-1] + 1, socket_ids[-1] + 1 + size["in_process_calls"]))
    return http_ids, socket_ids, in_process


def status_changes(cfg, env: dict) -> dict:
    """Status changes per core-second over HTTP and over the socket, each against the settled heartbeat; in-process costs."""
    size = SIZES[cfg.mode]
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    http_ids, socket_ids, in_process_ids = _prepare(size, cfg.password_hash)
    users = User.objects.in_bulk(http_ids + socket_ids)
    http_tokens = [access_token(users[i]) for i in http_ids]
    socket_tokens = {i: access_token(users[i]) for i in socket_ids}
    http_runs: dict[str, list[dict]] = {"settled": [], "change": []}
    with processes.daphne(env) as (base, process):
        server = psutil.Process(process.pid)
        _http_phase(base, server, http_tokens, "settled", 2)  # warm-up: sessions opened, users settled online
        for _ in range(size["rounds"]):  # interleaved, so a noisy moment hits both alike
            for kind in ("settled", "change"):
                # A change phase ends on `active`: the next settled phase starts from users settled online.
                http_runs[kind].append(_http_phase(base, server, http_tokens, kind, size["http_requests"]))
        host, port = base.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", "/api/users/presence/", headers={"Authorization": f"Bearer {http_tokens[0]}"})
        since = json.loads(conn.getresponse().read())["cursor"]  # sockets resume from it: small first answers
        conn.close()
        socket_runs = asyncio.run(_socket_phases(base, server, socket_tokens, since, size))
    in_process = _in_process(in_process_ids)
    result = {
        "mode": cfg.mode,
        "started_at": started_at,
        "load_average_at_end": os.getloadavg()[0],
        "users": size["users"],
        "sizes": size,
        "settle_seconds": SETTLE_SECONDS,
    }
    for transport, runs in (("http", http_runs), ("socket", socket_runs)):
        settled, change = _summary(runs["settled"]), _summary(runs["change"])
        result[transport] = {
            "settled": settled,
            "change": change,
            "ratio_change_to_settled_cpu": ratio(change["cpu_ms_per_write"], settled["cpu_ms_per_write"], 2),
        }
    result["in_process_cpu_ms"] = in_process
    result["in_process_calls"] = len(in_process_ids)
    return result
