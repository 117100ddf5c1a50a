"""Section 9 of docs/BENCHMARKS.md: status changes against the settled heartbeat, from a run's figures."""

COMMAND = "make bench"


def _rows(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _verdict(ok) -> str:
    return {True: "**holds**", False: "**missed**", None: "not measured in this mode"}[ok]


def target_rows(v: dict) -> list[list]:
    """The status changes' row of the Targets table."""
    return [["A status change (socket `state` message) costs <= 3 ms of server CPU", _verdict(v["status"])]]


PATHS = {
    "login": "login (`start_presence_session`)",
    "to_away": "heartbeat going idle (online → away)",
    "to_online": "heartbeat going active (away → online)",
    "settled": "heartbeat of a user settled online (no change)",
    "logout": "logout of one device (`end_presence_session`)",
    "lapse": "lapse of a closed socket's session (`lapse_disconnected_session`)",
    "logout_all": "logout everywhere (`end_all_presence_sessions`)",
}
# The same in-process figures before the writes were precompiled (the ORM's expressions, built and
# compiled per call), measured with `python -m bench --only status` on the commit before, same machine.
ORM_MS = {
    "login": 3.528,
    "to_away": 24.117,
    "to_online": 4.523,
    "settled": 0.239,
    "logout": 23.946,
    "lapse": 24.067,
    "logout_all": 4.727,
}


def section(sc: dict, v: dict) -> list[str]:
    size = sc["sizes"]
    rows = []
    for transport, label in (("http", "`POST /api/users/heartbeat/`"), ("socket", "socket `state` message")):
        for kind, what in (("settled", "`active`, user settled online (baseline)"), ("change", "idle ↔ active")):
            row = sc[transport][kind]
            rows.append(
                [
                    f"{label}, {what}",
                    row["writes"],
                    f"**{row['cpu_ms_per_write']}**" if kind == "change" else row["cpu_ms_per_write"],
                    row["writes_per_core_second"],
                    row["cpu_percent"],
                    f"{sc[transport]['ratio_change_to_settled_cpu']}x" if kind == "change" else "1",
                ]
            )
    return [
        "## 9. Status changes against the settled heartbeat",
        "",
        f"`{COMMAND}` → `bench/status_changes.py: status_changes` (`python -m bench --only status`). One daphne",
        f"process serves both transports, {sc['users']} users in the table. Over HTTP, {size['http_threads']} client",
        f"threads (one user each, keep-alive) send {size['http_requests']} heartbeats per phase; over the socket,",
        f"{size['sockets']} authenticated sockets (one user each) send {size['socket_messages']} `state` messages per",
        f"phase, {size['socket_interval']} s apart (the flood budget allows one a second), then a ping whose pong",
        "says they were all written. A change flips the user's only session between `active` and `idle`, so every",
        "write moves the user between online and away: a new change position, a push to every socket. The",
        "baseline sends `active` for a user already settled online: it changes nothing a reader sees. Phases",
        f"interleave over {size['rounds']} round(s); each counts the server's CPU (psutil, user + system) from its first",
        f"write to {sc['settle_seconds']} s after its last answer, so the hub's pushes of its changes are in it.",
        f"Measured {sc['started_at']} ({sc['mode']} sizes; load average {sc['load_average_at_end']:.2f} at the end).",
        "",
        _rows(["writes", "count", "server CPU ms each", "per core-second", "% of one core", "change / settled"], rows),
        "",
        f"Target <= 3 ms of server CPU per status change over the socket: {_verdict(v['status'])}. Each write in",
        f"the bench process itself ({sc['in_process_calls']} calls each: the write alone, no web stack), against the",
        "same figures before the writes were precompiled (the ORM building and compiling its CASE expressions on",
        "every call; same command on the commit before, same machine):",
        "",
        _rows(
            ["write", "CPU ms, precompiled", "CPU ms, ORM per call", "ORM / precompiled"],
            [
                [label, ms, ORM_MS[name], f"{ORM_MS[name] / ms:.0f}x" if ms else "-"]
                for name, label in PATHS.items()
                for ms in [sc["in_process_cpu_ms"][name]]
            ],
        ),
        "",
        "What dominated, and what changed:",
        "",
        "- py-spy on the daphne process under this scenario (`py-spy record -p <daphne pid> -r 200 --format raw`,",
        "  quick mode, before and after) put 35.8% of its samples in the presence writes and 22.2% in Django building",
        "  and compiling their expressions (`recompute_user → update_returning`, `write_online`): about 24 ms of",
        "  Python per change going idle, a logout or a lapse, and ~4 ms per login or return online, while the",
        "  settled heartbeat, already one precompiled statement, took 0.24 ms. After: 8.8% in the writes (mostly the",
        "  wait on PostgreSQL), none of it compiling; what is left on the flip is the web stack and the hub.",
        "- Every write that can change a status is now text built once at import (`users/presence/sql.py`) from",
        "  the rules' SQL forms (`users/presence/rules.py`, beside their ORM forms): a login, an active heartbeat",
        "  (settled or coming back online), logout everywhere and the guide's online, offline and touch are one",
        "  statement; going idle, a logout and a lapse are two in one transaction, the session write that locks",
        "  the user row and then the recompute, whose own snapshot includes every session write committed before",
        "  the lock (docs/PRESENCE.md, Concurrency). SQLite keeps the ORM's forms; the tests run those on",
        "  PostgreSQL as the reference for the precompiled ones.",
        "- A socket's idle `state` read the user row back after its write (`refresh_from_db`); the recompute's",
        "  RETURNING now carries the columns, so the message is its two statements and nothing else.",
        "- A change still costs more than the settled heartbeat over the socket: it moves a change position, so",
        f"  the hub pushes it to all {size['sockets']} sockets (the settled one pushes nothing); over HTTP the two",
        "  cost the same, the stack (authentication, middleware, the view) being most of either.",
        "",
    ]
