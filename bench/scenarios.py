"""The five measurements; each runs its baseline side by side, in the same run, and reports a ratio."""

import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from django.db import connection
from django.db.models import Q
from django.test import Client

from bench import database, processes
from users.auth import revocation
from users.models import User
from users.presence import clock as presence_clock
from users.services.simple_online_status import check_and_mark_offline_users

RAW_SWEEP_SQL = (
    "UPDATE users SET online_status = 'offline' WHERE online_status = 'online' "
    "AND COALESCE(last_seen, '1970-01-01 00:00:00+00:00'::timestamptz) < %s"
)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (with few samples, p99 is the slowest run)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def access_token(user: User) -> str:
    """An access token of a fresh session, minted without logging in (no presence write)."""
    from rest_framework_simplejwt.tokens import RefreshToken

    refresh = RefreshToken.for_user(user)
    refresh[revocation.SESSION_CLAIM] = refresh["jti"]
    return str(refresh.access_token)


def tokens_file(user_ids: list[int], directory: Path) -> Path:
    path = directory / f"tokens-{len(user_ids)}.txt"
    users = User.objects.in_bulk(user_ids)
    path.write_text("\n".join(access_token(users[i]) for i in user_ids) + "\n")
    return path


def ratio(a: float, b: float, digits: int = 3) -> float:
    return round(a / b, digits) if b else float("nan")


def load_population(cfg, workdir: Path) -> tuple[list[int], Path]:
    """The users behind the load runs: seeded once, one user (and token) per wrk connection."""
    database.seed_users(cfg.heartbeat_population, cfg.password_hash)
    user_ids = list(range(2, 2 + cfg.connections))
    return user_ids, tokens_file(user_ids, workdir)


def heartbeat_and_memory(cfg, env: dict, workdir: Path, users: Path) -> tuple[dict, dict]:
    """(1) heartbeat vs GET /me/ vs an unauthenticated ping under wrk; (5) peak RSS after that load."""
    anonymous = workdir / "anonymous.txt"
    anonymous.write_text("-\n" * cfg.connections)
    targets = {
        "ping": ("/bench/ping/", "GET", anonymous),
        "me": ("/api/users/me/", "GET", users),
        "heartbeat": ("/api/users/heartbeat/", "POST", users),
    }
    runs: dict[str, list[dict]] = {name: [] for name in targets}
    with processes.gunicorn(env) as (base, server), processes.celery_worker(env) as worker:
        processes.wrk(f"{base}/api/users/me/", tokens_file=users, seconds=1, connections=cfg.connections)  # warm-up
        for _ in range(cfg.rounds):  # interleaved, so a noisy moment hits every path alike
            for name, (path, method, tokens) in targets.items():
                runs[name].append(
                    processes.wrk(
                        f"{base}{path}",
                        tokens_file=tokens,
                        method=method,
                        seconds=cfg.load_seconds,
                        connections=cfg.connections,
                    )
                )
        memory = {
            "gunicorn_worker": processes.peak_rss_of_tree(server.pid),
            "celery_worker": processes.peak_rss_of_tree(worker.pid),
        }
    summary = {}
    for name, results in runs.items():
        summary[name] = {
            "rps": round(statistics.mean(r["rps"] for r in results), 1),
            "p50_ms": round(statistics.median(r["p50_ms"] for r in results), 2),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in results), 2),
            "requests": sum(r["requests"] for r in results),
        }
    heartbeat = {
        "population": cfg.heartbeat_population,
        "connections": cfg.connections,
        "users": cfg.connections,
        "workers": processes.WORKERS,
        "seconds_per_run": cfg.load_seconds,
        "rounds": cfg.rounds,
        **summary,
        "ratio_heartbeat_to_me_rps": ratio(summary["heartbeat"]["rps"], summary["me"]["rps"]),
        "ratio_me_to_ping_rps": ratio(summary["me"]["rps"], summary["ping"]["rps"]),
    }
    memory["gunicorn_worker"]["note"] = "largest of the master and its workers"
    return heartbeat, memory


def write_amplification(cfg, env: dict, user_ids: list[int], tokens: Path) -> dict:
    """(2) UPDATEs on users for N authenticated requests by K users inside one touch window, ours vs naive."""
    result = {"users": len(user_ids), "seconds": cfg.touch_seconds_run, "path": "GET /api/users/me/"}
    for name, extra in (("ours", {}), ("naive", {"BENCH_NAIVE_TOUCH": "1"})):
        # Every user's stored time is older than the touch window, so each user's first request writes.
        User.objects.filter(pk__in=user_ids).update(last_seen=presence_clock.now() - timedelta(hours=1))
        connection.close()  # a closed backend has flushed its statistics
        before = database.users_updates()
        with processes.gunicorn({**env, **extra}) as (base, _server):
            run = processes.wrk(
                f"{base}/api/users/me/", tokens_file=tokens, seconds=cfg.touch_seconds_run, connections=cfg.connections
            )
        time.sleep(0.5)  # the server's backends have exited and flushed their counters
        writes = database.users_updates() - before
        result[name] = {
            "requests": run["requests"],
            "rps": run["rps"],
            "updates": writes,
            "updates_per_request": round(writes / run["requests"], 4),
            "updates_per_user_per_window": round(writes / len(user_ids), 2),
        }
    result["ratio_naive_to_ours_updates"] = ratio(result["naive"]["updates"], result["ours"]["updates"])
    return result


def staff_client() -> Client:
    """The in-process client of the staff user (user 1 of the seed): the largest bodies."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {access_token(User.objects.get(pk=1))}")


def timed_gets(client: Client, paths: dict[str, str], reps: int) -> tuple[dict, dict]:
    """GET each path once (warm-up; those bodies are returned), then `reps` interleaved rounds: (bodies, ms per path)."""
    bodies = {name: client.get(path) for name, path in paths.items()}
    assert all(r.status_code == 200 for r in bodies.values()), {n: r.status_code for n, r in bodies.items()}
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(reps):  # interleaved, so a noisy moment hits every path alike
        for name, path in paths.items():
            started = time.perf_counter()
            response = client.get(path)
            times[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
    return bodies, times


def latency(times: list[float], body) -> dict:
    """p50 and p99 of a path's timings, and its body's size."""
    return {
        "p50_ms": round(percentile(times, 50), 2),
        "p99_ms": round(percentile(times, 99), 2),
        "bytes": len(body.content),
    }


def all_users_list(cfg) -> list[dict]:
    """(3) GET /api/users/all-users/ as staff vs a plain ModelSerializer list, timed inside the server process."""
    rows = []
    for count, reps in cfg.list_sizes:
        database.seed_users(count, cfg.password_hash)
        paths = {"ours": "/api/users/all-users/", "baseline": "/bench/all-users/"}
        client = staff_client()
        bodies, times = timed_gets(client, paths, reps)
        # Compared after the warm-up: its first request touched the staff user's own last_seen.
        same = json.loads(client.get(paths["ours"]).content) == json.loads(client.get(paths["baseline"]).content)
        assert same, "the baseline list no longer returns the same body as ours: the ratio would compare different work"
        row = {"users": count, "runs": reps, "same_body": same}
        for name in paths:
            row[name] = latency(times[name], bodies[name])
        row["ratio_baseline_to_ours_p50"] = ratio(row["baseline"]["p50_ms"], row["ours"]["p50_ms"])
        rows.append(row)
    return rows


def _naive_sweep() -> int:
    """Load each stale user and save it: one SELECT, then one UPDATE per user."""
    cutoff = presence_clock.offline_cutoff()
    marked = 0
    for user in User.objects.filter(Q(last_seen__isnull=True) | Q(last_seen__lt=cutoff), online_status="online"):
        user.online_status = "offline"
        user.save(update_fields=["online_status"])
        marked += 1
    return marked


def _raw_sweep() -> int:
    with connection.cursor() as cursor:
        cursor.execute(RAW_SWEEP_SQL, [presence_clock.offline_cutoff()])
        return cursor.rowcount


def _explain_sweep() -> dict:
    """EXPLAIN the UPDATE check_and_mark_offline_users() sends (captured, then explained, then run)."""
    captured = []

    def capture(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("UPDATE"):
            captured.append(database.explain(sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        check_and_mark_offline_users()
    return captured[0]


def _backend_cpu_ns() -> int | None:
    """CPU time PostgreSQL's backend for this connection has used (local server only): load-independent cost."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def sweep(cfg) -> list[dict]:
    """(4) the sweep at each size vs the raw UPDATE floor and a naive loop-and-save (the latter at small sizes)."""
    rows = []
    real_clock = presence_clock.now
    for count, reps in cfg.sweep_sizes:
        seeded_at = database.seed_users(count, cfg.password_hash)
        # The clock stops at the seeding time, so online users stay fresh however long the runs take.
        presence_clock.now = lambda seeded_at=seeded_at: seeded_at
        methods = {"ours": check_and_mark_offline_users, "raw_update": _raw_sweep}
        if count <= cfg.naive_sweep_max:
            methods["naive"] = _naive_sweep
        times: dict[str, list[float]] = {name: [] for name in methods}
        cpu: dict[str, list[float]] = {name: [] for name in methods}
        for rep in range(reps + 1):  # the first round warms the caches and is not counted
            for name, run in methods.items():
                database.make_stale_online_again()
                backend_before, started = _backend_cpu_ns(), time.perf_counter()
                marked = run()
                elapsed = (time.perf_counter() - started) * 1000
                backend_after = _backend_cpu_ns()
                assert marked == database.expected_stale(count), (name, marked)
                if rep:
                    times[name].append(elapsed)
                    if backend_before is not None and backend_after is not None:
                        cpu[name].append((backend_after - backend_before) / 1e6)
        database.make_stale_online_again()
        plan = _explain_sweep()
        raw_plan = database.explain(RAW_SWEEP_SQL, [presence_clock.offline_cutoff()])
        row = {
            "users": count,
            "online": count // database.ONLINE_EVERY,
            "stale": database.expected_stale(count),
            "runs": reps,
            "explain": plan,
            "raw_update_explain": raw_plan,
        }
        for name in methods:
            row[name] = {
                "p50_ms": round(percentile(times[name], 50), 2),
                "max_ms": round(max(times[name]), 2),
                # PostgreSQL's own CPU time for the statement(s): what a busy machine cannot inflate
                "db_cpu_p50_ms": round(percentile(cpu[name], 50), 2) if cpu[name] else None,
            }
        row["ratio_ours_to_raw_update"] = ratio(row["ours"]["p50_ms"], row["raw_update"]["p50_ms"])
        if "naive" in methods:
            row["ratio_naive_to_ours"] = ratio(row["naive"]["p50_ms"], row["ours"]["p50_ms"])
        rows.append(row)
    presence_clock.now = real_clock
    return rows


def workdir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="offchat-bench-")
