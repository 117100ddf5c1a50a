"""The processes under test (gunicorn, daphne, the Celery worker) and the load generator (wrk), all on 127.0.0.1."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LUA_SCRIPT = Path(__file__).resolve().parent / "tokens.lua"
# gunicorn's rule of thumb for sync workers, (2 x cores) + 1: a worker waiting on
# PostgreSQL or Redis leaves its core to another one.
WORKERS = 2 * (os.cpu_count() or 1) + 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def peak_rss_mib(pid: int) -> float:
    """The peak resident set size (VmHWM) of one process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_of_tree(pid: int) -> dict:
    """Peak RSS of a process and its children: the largest one, and each."""
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    peaks = {p.pid: peak_rss_mib(p.pid) for p in procs if p.is_running()}
    return {
        "max_mib": round(max(peaks.values()), 1),
        "processes": len(peaks),
        "each_mib": sorted(round(v, 1) for v in peaks.values()),
    }


@contextmanager
def gunicorn(env: dict, *, workers: int = WORKERS, worker_class: str = "sync"):
    """gunicorn serving the app with the bench settings; yields (base_url, process)."""
    port = free_port()
    app = "offchat_backend.wsgi" if worker_class == "sync" else "offchat_backend.asgi:application"
    argv = [
        str(BIN / "gunicorn"),
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--log-level",
        "warning",
        "--timeout",
        "120",
        "--preload",
    ]  # import the app once, then fork: the bench restarts the server between runs
    with _serving(argv, env, port, "gunicorn") as served:
        yield served


@contextmanager
def daphne(env: dict):
    """daphne, one process serving HTTP and the presence socket (the ASGI app), as runserver runs it; yields (base_url, process)."""
    port = free_port()
    # compose's web command's endpoint: a listen backlog that fits a burst of handshakes (Twisted's default is 50).
    endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog=1024"
    argv = [str(BIN / "daphne"), "-v", "0", "-e", endpoint, "offchat_backend.asgi:application"]
    with _serving(argv, env, port, "daphne") as served:
        yield served


@contextmanager
def _serving(argv: list[str], env: dict, port: int, name: str):
    process = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/bench/ping/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start") from exc
                time.sleep(0.2)
        yield base, process
    finally:
        _stop(process)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children, so far."""
    total = 0.0
    for proc in (psutil.Process(pid), *psutil.Process(pid).children(recursive=True)):
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def largest_rss_mib(pid: int) -> float:
    """The resident set of the largest process of a tree (a gunicorn worker, or daphne itself), in MiB."""
    sizes = []
    for proc in (psutil.Process(pid), *psutil.Process(pid).children(recursive=True)):
        try:
            sizes.append(proc.memory_info().rss)
        except psutil.NoSuchProcess:
            continue
    return max(sizes) / 2**20


@contextmanager
def celery_worker(env: dict):
    """`celery worker --beat` as the Procfile runs it, with the sweep every second so it works during the load."""
    argv = [
        str(BIN / "celery"),
        "-A",
        "offchat_backend",
        "worker",
        "--beat",
        "--loglevel",
        "warning",
        "--concurrency",
        "2",
    ]
    process = subprocess.Popen(
        argv, cwd=ROOT, env={**env, "PRESENCE_SWEEP_SECONDS": "1"}, start_new_session=True, stdout=subprocess.DEVNULL
    )
    try:
        time.sleep(3)  # started and sweeping; the load that follows lasts longer
        if process.poll() is not None:
            raise RuntimeError("the Celery worker did not start")
        yield process
    finally:
        _stop(process)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def wrk(
    url: str,
    *,
    tokens_file: Path,
    method: str = "GET",
    seconds: float,
    connections: int,
    threads: int = 2,
    allow_errors: bool = False,
) -> dict:
    """Run wrk for a bounded time; returns requests, rps, p50/p99 (ms), bytes and non-2xx counts (errors raise unless allowed)."""
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(tokens_file),
        method,
        str(threads),
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next(text for text in out.splitlines() if text.startswith("BENCH_JSON "))
    result = json.loads(line.removeprefix("BENCH_JSON "))
    if (result["non_2xx"] or result["socket_errors"]) and not allow_errors:
        raise RuntimeError(f"wrk saw failures on {url}: {result}")
    return result
