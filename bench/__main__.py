"""`python -m bench [--quick] [--only NAME]`: run the measurements, print the table, write the JSON, report and plot."""

import argparse
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass
class Config:
    mode: str
    connections: int = 16  # wrk connections, each a distinct user
    heartbeat_population: int = 10_000
    load_seconds: float = 10
    rounds: int = 3
    touch_seconds_run: float = 10  # must stay inside one PRESENCE_TOUCH_SECONDS window
    list_sizes: list = field(default_factory=lambda: [(1_000, 100), (10_000, 30), (100_000, 5)])
    sweep_sizes: list = field(default_factory=lambda: [(10_000, 7), (100_000, 7), (1_000_000, 5)])
    naive_sweep_max: int = 100_000
    feed_users: int = 100_000
    feed_changes: int = 100
    feed_runs: int = 11
    rt_viewers: int = 1_000  # sockets that watch the changes
    rt_held: int = 10_000  # sockets held idle (the viewers among them)
    rt_changes: int = 12  # logins and logouts over HTTP, each pushed to every viewer
    rt_closed: int = 3  # viewer sockets closed for the closed-tab time
    rt_poll_requests: int = 50  # feed polls timed for the polling comparison
    rt_idle_seconds: float = 30
    rt_settle_seconds: float = 5
    rt_grace_seconds: float = 0  # 0: the default PRESENCE_DISCONNECT_GRACE_SECONDS
    rt_compare_sockets: int = 1_000  # sockets per server in the memory comparison
    org_users: int = 20_000  # (8) the organisation
    org_sockets: int = 10_000  # viewer sockets, staff included
    org_watch: int = 50  # users a regular socket watches
    org_observers: int = 100  # sockets watching every user who changes (JSON decoded)
    org_sampled: int = 20  # regular sockets that decode JSON too (nothing unwatched may arrive)
    org_staff: int = 100  # staff sockets watching everyone, with a full snapshot
    org_changers: int = 200  # users who flip active/idle over their own sockets
    org_rate: float = 20  # status changes a second
    org_churn_seconds: float = 30
    org_idle_seconds: float = 30
    org_settle_seconds: float = 5
    password_hash: str = ""


QUICK = dict(
    load_seconds=2,
    rounds=1,
    touch_seconds_run=2,
    list_sizes=[(1_000, 20), (10_000, 3)],
    sweep_sizes=[(10_000, 3), (100_000, 2)],
    naive_sweep_max=10_000,
    feed_users=10_000,
    feed_runs=5,
    rt_viewers=50,
    rt_held=300,
    rt_changes=4,
    rt_closed=2,
    rt_poll_requests=10,
    rt_idle_seconds=3,
    rt_settle_seconds=1,
    rt_grace_seconds=2,
    rt_compare_sockets=100,
    org_users=2_000,
    org_sockets=300,
    org_observers=10,
    org_sampled=5,
    org_staff=5,
    org_changers=20,
    org_rate=10,
    org_churn_seconds=4,
    org_idle_seconds=2,
    org_settle_seconds=1,
)
SCENARIOS = ("heartbeat", "writes", "all_users", "feed", "sweep", "realtime", "organisation", "status")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the CI smoke run: smaller sizes, shorter loads (< 60 s)")
    parser.add_argument("--out", default="docs", help="where BENCHMARKS.md and benchmarks/ are written")
    parser.add_argument(
        "--only",
        action="append",
        choices=SCENARIOS,
        metavar="NAME",
        help=f"run only this scenario (repeatable; one of {', '.join(SCENARIOS)}): prints its table and "
        "writes benchmarks/only.json under --out, never the report",
    )
    args = parser.parse_args()
    wanted = set(args.only or SCENARIOS)
    config = Config(mode="quick", **QUICK) if args.quick else Config(mode="full")

    from bench import database

    url = database.bench_database_url()
    database.create_database(url)
    os.environ.update(
        {
            "DATABASE_URL": url,
            "REDIS_URL": os.environ.get("REDIS_URL") or database.DEFAULT_REDIS_URL,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "LOG_LEVEL": "WARNING",
            "JWT_ACCESS_TOKEN_SECONDS": "3600",  # outlives the whole run
        }
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    from bench import processes

    if wanted & {"heartbeat", "writes", "realtime"} and not processes.wrk_available():
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")

    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command

    from bench import feed, report, scenarios

    call_command("migrate", verbosity=0)
    config.password_hash = make_password(database.SEED_PASSWORD)  # once: every seeded user shares it
    env = dict(os.environ)
    started = time.monotonic()
    results = {"mode": config.mode, "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
    load_at_start = os.getloadavg()
    phases = results["phase_seconds"] = {}

    def timed(name, run):
        began = time.monotonic()
        outcome = run()
        phases[name] = round(time.monotonic() - began, 1)
        print(f"bench: {name} done in {phases[name]} s", file=sys.stderr, flush=True)
        return outcome

    with scenarios.workdir() as tmp:
        tmp = Path(tmp)
        if wanted & {"heartbeat", "writes"}:
            user_ids, tokens = timed("seed", lambda: scenarios.load_population(config, tmp))
        if "heartbeat" in wanted:
            results["heartbeat"], results["memory"] = timed(
                "heartbeat", lambda: scenarios.heartbeat_and_memory(config, env, tmp, tokens)
            )
        if "writes" in wanted:
            results["write_amplification"] = timed(
                "writes", lambda: scenarios.write_amplification(config, env, user_ids, tokens)
            )
    if "all_users" in wanted:
        results["all_users"] = timed("all_users", lambda: scenarios.all_users_list(config))
    if "feed" in wanted:
        results["feed"] = timed("feed", lambda: feed.feed_poll(config))
    if "sweep" in wanted:
        results["sweep"] = timed("sweep", lambda: scenarios.sweep(config))
    if "realtime" in wanted:
        from bench import realtime

        with scenarios.workdir() as tmp:
            results["realtime"] = timed("realtime", lambda: realtime.realtime(config, env, Path(tmp)))
    if "organisation" in wanted:
        from bench import organisation

        results["organisation"] = timed("organisation", lambda: organisation.organisation(config, env))
    if "status" in wanted:
        from bench import status_changes

        results["status_changes"] = timed("status", lambda: status_changes.status_changes(config, env))
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "postgres": _postgres_version(),
        "gunicorn_workers": processes.WORKERS,
    }
    results["seconds"] = round(time.monotonic() - started, 1)
    results["config"] = {k: v for k, v in asdict(config).items() if k != "password_hash"}
    print(report.table(results))
    if args.only:  # a partial run never replaces the report or latest.json
        report.write_partial(results, Path(args.out))
    else:
        report.write(results, Path(args.out))
    return 0


def _postgres_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


if __name__ == "__main__":
    sys.exit(main())
