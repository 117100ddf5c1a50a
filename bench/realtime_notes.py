"""Section 7 of docs/BENCHMARKS.md: the presence socket against HTTP heartbeats and polling, from a run's figures."""

COMMAND = "make bench"


def _rows(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _verdict(ok) -> str:
    return {True: "**holds**", False: "**missed**", None: "not measured in this mode"}[ok]


def target_rows(v: dict) -> list[list]:
    """The socket's rows of the Targets table."""
    return [
        ["Socket push: a change reaches 1,000 viewer sockets with p99 <= 1 s, none missed", _verdict(v["push"])],
        ["10,000 idle sockets on one process: < 100 KiB RSS per socket and < 10% of one core", _verdict(v["held"])],
        ["Closed tab: the user is pushed offline within the disconnect grace + 1 s", _verdict(v["closed_tab"])],
    ]


def section(rt: dict, v: dict) -> list[str]:
    p, po, c, h = rt["push"], rt["polling"], rt["closed_tab"], rt["held"]
    http, memory, hb = rt["http_heartbeats_same_users"], rt["servers"]["held_sockets"], rt["servers"]["heartbeat"]
    compared = memory["daphne"]["sockets"] - 1
    return [
        "## 7. The presence socket: pushes, held sockets, a closed tab",
        "",
        f"`{COMMAND}` → `bench/realtime.py: realtime`; the plot is `docs/benchmarks/realtime.png`. The server is one",
        "daphne process (`daphne -b 127.0.0.1 -p PORT offchat_backend.asgi:application`, the bench settings: the",
        f"base settings with DEBUG off; push every {h['push_seconds']} s, touch every {h['touch_seconds']} s). The clients",
        "are the bench process itself: one asyncio loop with `websockets`, which offers permessage-deflate as a",
        "browser does (daphne declines it, uvicorn accepts it by default), and the open-file limit raised to the",
        f"hard limit ({rt['file_limit']}), which the servers started from it inherit.",
        "Access tokens are minted in bulk as for wrk (no HTTP logins). The socket users are seeded settled online,",
        "so a socket's connect heartbeat raises their times and makes no change, and every socket resumes",
        "(`since`) from the cursor of one full snapshot taken over HTTP (`GET /api/users/presence/`), as a",
        "reconnecting client does. (A socket's own snapshot of 10k users is 1.5 MB, over daphne's 1 MiB message",
        "limit: the send fails, the hub drops the error, and the socket waits with no first message.)",
        "",
        "**Push latency.** With the viewer sockets open and authenticated, users who are not viewers log in and",
        "out over HTTP (`POST /api/users/login/`, `POST /api/users/logout/`) on the same daphne process, one at a",
        "time, a random 0.1-1 s apart so that the changes land anywhere in the push cycle. The latency is each",
        "viewer's receipt of the push carrying that user's new status, read in the client's event loop (so it",
        "includes the client's own queueing), minus the moment the HTTP response was read. Polling is",
        f"{po['how']} (`GET /api/users/presence/?since=`, {po['poll_requests']} polls timed over HTTP",
        "on the same server with the sockets open): a poller every 10 s sees a change after a delay uniform in",
        "[0, 10] s plus its poll.",
        "",
        _rows(
            ["", "viewers", "changes", "p50 ms", "p99 ms", "max ms", "missed"],
            [
                [
                    "socket push",
                    p["viewers"],
                    p["changes"],
                    f"**{p['p50_ms']}**",
                    f"**{p['p99_ms']}**",
                    p["max_ms"],
                    p["missed"],
                ],
                [
                    f"polling every {po['refresh_seconds']} s (derived; poll p50 {po['poll_p50_ms']} ms)",
                    "",
                    "",
                    po["p50_ms"],
                    po["p99_ms"],
                    "",
                    "",
                ],
                ["polling / socket (p99)", "", "", "", f"{rt['ratio_polling_to_socket_p99']}x", "", ""],
            ],
        ),
        "",
        f"Target p99 <= 1 s: {_verdict(v['push'])}. What sets it: each server process reads the feed every",
        f"{h['push_seconds']} s, so a change waits 0-{h['push_seconds']} s for the next read, then the fan-out writes",
        f"one frame per socket ({p['viewers']} here) from one event loop. The per-change p50s show that wait:",
        ", ".join(f"{c_['kind']} {c_['p50_ms']}" for c_ in p["per_change"]) + " ms.",
        "",
        f"**Closed tab.** {c['closed']} viewer sockets are closed by their clients, 0.3 s apart; the time runs from each",
        f"close to each of the other {c['viewers']} viewers seeing that user offline. The grace is",
        f"PRESENCE_DISCONNECT_GRACE_SECONDS = {c['grace_seconds']} s. With polling there is no close: the user goes",
        f"offline when the timeout ({c['polling_range_s'][0]} s) passes, and the sweep or a reader's effective",
        f"status notices within {c['polling_range_s'][0]}-{c['polling_range_s'][1]} s (from the settings, not measured here).",
        "",
        _rows(
            ["closed socket", "viewers that saw it", "first s", "p50 s", "max s"],
            [
                [i + 1, row["viewers_seen"], row["first_s"], row["p50_s"], row["max_s"]]
                for i, row in enumerate(c["each"])
            ],
        ),
        "",
        f"Target <= grace + 1 s ({c['grace_seconds'] + 1} s): {_verdict(v['closed_tab'])}; the margin over the grace is",
        "the hub's cycle (the lapse is written in the first cycle after the grace, then pushed by the next read).",
        "",
        f"**Held sockets.** The viewers stay open and the fleet grows to {h['sockets']} sockets on the same process",
        f"({h['opens_per_second']} opens per second: each authenticates with a heartbeat on the consumer's one",
        f"database thread, and is answered by the hub's next read). After {rt.get('settle_seconds', 'a few')} s to",
        f"settle, the sockets sit idle for {h['idle_seconds']} s: the server's CPU (psutil), the statements it sent",
        "(counted in the server by an execute wrapper the bench settings install, `bench/statements.py`), and",
        "PostgreSQL's transactions in the bench database (`pg_stat_database`, every client of it). RSS per socket is",
        f"the server's RSS growth from {h['rss_mib_before']} MiB (the viewers) to {h['rss_mib']} MiB, over the sockets added.",
        "The comparison is the same users' tokens heartbeating over HTTP on gunicorn (sync workers, as compose",
        "runs it), measured in the same run under wrk with every session and user last seen 20 s before, so that",
        "each heartbeat is a steady-state one that writes (as every 30 s heartbeat does, the touch window being",
        f"{h['touch_seconds']} s): CPU ms and transactions per heartbeat, times {http['heartbeats_per_second']} heartbeats",
        f"per second ({http['users']} users every {http['heartbeat_seconds']} s). PostgreSQL's own CPU is in neither figure.",
        "",
        _rows(
            [
                f"{http['users']} users",
                "KiB per socket",
                "server CPU, % of one core",
                "statements/min",
                "transactions/min",
            ],
            [
                [
                    f"{h['sockets']} idle sockets, one daphne process",
                    f"**{h['kib_per_socket']}**",
                    f"**{h['idle_cpu_percent']}**",
                    h["statements_per_minute"],
                    h["transactions_per_minute"],
                ],
                [
                    f"HTTP heartbeats every {http['heartbeat_seconds']} s, gunicorn sync (derived from wrk)",
                    "",
                    http["cpu_percent"],
                    "",
                    http["transactions_per_minute"],
                ],
                [
                    "HTTP / socket",
                    "",
                    f"{rt['ratio_http_to_socket_cpu']}x",
                    "",
                    f"{rt['ratio_http_to_socket_transactions']}x",
                ],
            ],
        ),
        "",
        f"Targets < 100 KiB per socket and < 10% of one core: {_verdict(v['held'])}. The idle statements do not grow",
        "with the sockets: each hub cycle (every push interval) asks which sessions ended and reads the feed",
        "once per visibility class; every touch interval it touches all its sessions in one statement. The",
        f"sockets that were still open after the idle time: {h['alive_after_idle']} of {h['sockets']}; pushes while idle:",
        f"{h['pushes_while_idle']}.",
        "",
        "**Servers.** The memory of held sockets on daphne and on gunicorn with one uvicorn worker",
        f"(`uvicorn_worker.UvicornWorker`, uvicorn 0.54 with its default WebSocket implementation), {compared} sockets",
        "each, RSS growth over the sockets added; and HTTP heartbeats under wrk on daphne (one process) and on",
        "gunicorn with sync or uvicorn workers ((2 x cores) + 1 each), CPU ms per heartbeat over the server's",
        "whole process tree.",
        "",
        _rows(
            [
                "server",
                "KiB per held socket",
                "heartbeat req/s",
                "p99 ms",
                "errors",
                "CPU ms per heartbeat",
                "transactions per heartbeat",
            ],
            [
                [
                    label,
                    memory.get(name, {}).get("kib_per_socket", "HTTP only"),
                    hb[name]["rps"],
                    hb[name]["p99_ms"],
                    f"{hb[name]['errors']} of {hb[name]['requests']}",
                    hb[name]["cpu_ms_per_heartbeat"],
                    hb[name]["transactions_per_heartbeat"],
                ]
                for name, label in (
                    ("daphne", "daphne (1 process)"),
                    ("gunicorn_uvicorn", f"gunicorn + uvicorn workers ({hb['gunicorn_uvicorn']['processes']})"),
                    ("gunicorn_sync", f"gunicorn sync workers ({hb['gunicorn_sync']['processes']})"),
                )
            ],
        ),
        "",
        *_recommendation(rt),
        "",
    ]


def _recommendation(rt: dict) -> list[str]:
    memory, hb, h = rt["servers"]["held_sockets"], rt["servers"]["heartbeat"], rt["held"]
    d, u = memory["daphne"]["kib_per_socket"], memory["gunicorn_uvicorn"]["kib_per_socket"]
    sync, daphne, uvi = hb["gunicorn_sync"], hb["daphne"], hb["gunicorn_uvicorn"]
    return [
        f"**What compose's `web` should run.** Held sockets cost {d} KiB each on daphne against {u} KiB on uvicorn",
        f"({ratio_text(u, d)}; uvicorn accepts permessage-deflate, a compression context per socket), and one",
        f"daphne process held {h['sockets']} sockets in {h['rss_mib']} MiB at {h['idle_cpu_percent']}% of a core.",
        f"For HTTP heartbeats gunicorn's sync workers did {sync['rps']} req/s at {sync['cpu_ms_per_heartbeat']} CPU ms",
        f"each, gunicorn with uvicorn workers {uvi['rps']} req/s at {uvi['cpu_ms_per_heartbeat']} ms, daphne (one",
        f"process, its sync views on one thread) {daphne['rps']} req/s at {daphne['cpu_ms_per_heartbeat']} ms. Under",
        "ASGI, Django runs each request's sync code in a thread of its own with its own database connection, which",
        "likely explains the extra transactions per heartbeat and, on a PostgreSQL shared with other clients, any",
        "503s (the app's answer when the database refuses).",
        "A socket client sends no HTTP heartbeat at all, so with sockets the HTTP load that remains is logins,",
        "lists and the feed of clients without a socket.",
        "",
        "Compose's `web` runs gunicorn over WSGI today, which serves no WebSocket, so `/ws/presence/` needs an ASGI",
        "server. Recommended: `web` runs daphne, the server `make run` already uses and already pinned",
        "(`daphne -b 0.0.0.0 -p 8000 offchat_backend.asgi:application`), one process per container, scaled with",
        "more `web` replicas behind the load balancer (each process's hub reads the feed once per push interval,",
        "so replicas add idle statements, not per-socket ones). Where HTTP throughput matters more than one",
        "origin, keep gunicorn sync workers for `/api/` and route `/ws/` to daphne at the proxy. uvicorn workers",
        "are not recommended: more memory per socket and no faster over HTTP here. uvicorn and uvicorn-worker are",
        "pinned in requirements-dev.txt for this comparison only.",
    ]


def ratio_text(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b else "n/a"
