"""`make soak`: a bounded load against gunicorn + PostgreSQL + Redis + a Celery worker with beat.

500 users heartbeat at the configured interval compressed in time (SOAK_COMPRESSION, default 5x:
heartbeat 6 s, timeout 24 s, sweep 12 s), some leave and rejoin, 5 admins poll all-users, for
SOAK_SECONDS (default 60). Reports errors (must be 0), live users shown offline (must be 0),
p99 latency and the worker's memory before and after; exits non-zero when a must-be-0 is not.
Everything runs on 127.0.0.1; every process is stopped at the end.
"""

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
OUT = ROOT / "var" / "soak"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def tree_rss_mb(pid: int) -> float:
    process = psutil.Process(pid)
    return round(sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20, 1)


def wait_healthy(base: str, bound: float = 60) -> dict:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=3) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the server never became healthy")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group, SIGKILL it if still there after 15 s; a group already gone is fine."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def main() -> int:
    seconds = int(os.environ.get("SOAK_SECONDS", "60"))
    users, admins = int(os.environ.get("SOAK_USERS", "500")), 5
    compression = float(os.environ.get("SOAK_COMPRESSION", "5"))
    # A database of its own beside DATABASE_URL's (`<name>_soak`), so a soak never touches real rows.
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/offchat")
    if not base_url.startswith("postgres"):
        raise SystemExit("make soak needs PostgreSQL: set DATABASE_URL=postgres://...")
    database_url = os.environ.get("SOAK_DATABASE_URL", base_url + "_soak")
    redis_url = os.environ.get("SOAK_REDIS_URL", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    OUT.mkdir(parents=True, exist_ok=True)
    ensure_database(database_url)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "PRESENCE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="offchat_backend.settings.production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        OFFCHAT_VAR_DIR=str(OUT / "var"),
        # The production defaults (30/120/60/10/15 s) divided by the compression, in whole seconds.
        **{
            name: str(max(1, round(default / compression)))
            for name, default in (
                ("PRESENCE_HEARTBEAT_SECONDS", 30),
                ("PRESENCE_TIMEOUT_SECONDS", 120),
                ("PRESENCE_SWEEP_SECONDS", 60),
                ("PRESENCE_REFRESH_SECONDS", 10),
                ("PRESENCE_TOUCH_SECONDS", 15),
            )
        },
        # One load generator on one address: the per-IP login limit would throttle it, by design.
        LOGIN_THROTTLE_IP_RATE="100000/min",
        JWT_ACCESS_TOKEN_SECONDS=str(seconds + 300),
        SOAK_USERS=str(users),
        SOAK_ADMINS=str(admins),
        SOAK_PASSWORD=secrets.token_urlsafe(12),
        SOAK_TOKENS=str(OUT / "tokens.json"),
        SOAK_REPORT=str(OUT / "locust.json"),
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run(manage + ["migrate", "--noinput"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        manage + ["shell", "-c", (Path(__file__).parent / "seed.py").read_text()],
        env=env,
        cwd=ROOT,
        check=True,
        timeout=600,
    )

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logs = {name: open(OUT / f"{name}.log", "wb") for name in ("gunicorn", "worker", "locust")}  # noqa: SIM115 - closed at the end
    started = []

    def start(name, argv):
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=logs[name], stderr=subprocess.STDOUT, start_new_session=True
        )
        started.append(process)
        return process

    try:
        start(
            "gunicorn",
            [
                str(BIN / "gunicorn"),
                "offchat_backend.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "3",
                "--threads",
                "4",
                "--timeout",
                "30",
            ],
        )
        worker = start(
            "worker",
            [
                str(BIN / "celery"),
                "-A",
                "offchat_backend",
                "worker",
                "--beat",
                "--loglevel",
                "info",
                "--concurrency",
                "2",
                "--hostname",
                f"soak-{port}@%h",
            ],
        )
        wait_healthy(base)
        time.sleep(2)  # the worker's pool is up
        memory_before = tree_rss_mb(worker.pid)
        load = start(
            "locust",
            [
                str(BIN / "locust"),
                "-f",
                str(Path(__file__).parent / "locustfile.py"),
                "--headless",
                "-u",
                str(users + admins),
                "-r",
                "100",
                "-t",
                f"{seconds}s",
                "--host",
                base,
                "--stop-timeout",
                "5",
                "--only-summary",
            ],
        )
        load.wait(timeout=seconds + 120)
        memory_after = tree_rss_mb(worker.pid)
        health = wait_healthy(base)
    finally:
        for process in reversed(started):
            stop(process)

    report = json.loads((OUT / "locust.json").read_text())
    summary = {
        "seconds": seconds,
        "users": users,
        "admins": admins,
        "compression": compression,
        "heartbeat_seconds": int(env["PRESENCE_HEARTBEAT_SECONDS"]),
        "timeout_seconds": int(env["PRESENCE_TIMEOUT_SECONDS"]),
        "sweep_seconds": int(env["PRESENCE_SWEEP_SECONDS"]),
        **report,
        "worker_rss_mb_before": memory_before,
        "worker_rss_mb_after": memory_after,
        "healthz_after": health.get("checks"),
    }
    (OUT / "report.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    ok = summary["errors"] == 0 and summary["wrongly_offline"] == 0 and summary["checked"] > 0
    print("SOAK", "PASSED" if ok else "FAILED", f"(report: {OUT / 'report.json'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
