"""`make run` as a new user runs it: on the embedded defaults, stopped with Ctrl-C, quietly and completely."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.live.conftest import ROOT, Api, free_port, wait_until

pytestmark = pytest.mark.live
VENV = Path(sys.prefix)
START_SECONDS = 120  # a fresh SQLite database is migrated and seeded first
STOP_SECONDS = 30


def make_run(port: int, var_dir: Path, log_path: Path) -> subprocess.Popen:
    """`make run PORT=port` in a process group of its own, as a terminal's foreground job, on a database of its own."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name
        not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_BROKER_FOLDER", "DJANGO_SETTINGS_MODULE")
    }
    env.update(OFFCHAT_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
    # This test's virtualenv, never re-installed (-o): the suite already runs in it.
    argv = ["make", "--no-print-directory", f"VENV={VENV}", "-o", f"{VENV}/bin/.installed", "run", f"PORT={port}"]
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def answers(port: int) -> bool:
    try:
        return Api(f"http://127.0.0.1:{port}").call("GET", "/livez")[0] == 200
    except OSError:
        return False


@pytest.fixture
def run_log(tmp_path):
    return tmp_path / "make-run.log"


def test_ctrl_c_stops_everything_quietly(tmp_path, run_log):
    port = free_port()
    make = make_run(port, tmp_path / "var", run_log)

    def log() -> str:
        return run_log.read_text(errors="replace")

    try:

        def up() -> bool:
            assert make.poll() is None, log()  # make run gave up: fail at once, with its output
            return answers(port) and " ready." in log() and "demo presence plays" in log()

        wait_until(up, timeout=START_SECONDS, interval=0.5, describe=log)
        time.sleep(5)  # the demo player changes something, the worker sweeps
        started = log()

        os.killpg(make.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the foreground group gets SIGINT
        make.wait(timeout=STOP_SECONDS)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGKILL)

    stopping = log()[len(started) :]
    assert make.returncode in (0, 130, -signal.SIGINT), log()
    for process in ("web.1", "worker.1", "demo.1"):
        assert f"{process} stopped (rc=0)" in stopping, stopping
    for noise in ("SIGKILL", "ERROR", "Traceback", "make: ***", "Interrupt"):
        assert noise not in log(), f"{noise!r} in\n{log()}"
    assert "No hostname was supplied" not in started
    assert started.count("Watching for file changes") == 1  # the autoreloader is on, and said so once
    # The player's own accounts' transitions stay out of the log; its summary is its one line at the stop.
    assert "demo.1" not in "".join(line for line in started.splitlines(True) if "presence user_id=" in line)
    assert "demo presence stopped after" in stopping
    assert not answers(port)


def test_a_taken_port_says_how_to_pick_another(tmp_path, run_log):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        make = make_run(port, tmp_path / "var", run_log)
        try:
            make.wait(timeout=START_SECONDS)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(make.pid, signal.SIGKILL)

    output = run_log.read_text(errors="replace")
    assert make.returncode != 0
    assert f"Port {port} is already in use: run `make run PORT=8001`" in output, output
    assert "started (pid=" not in output  # nothing was started
