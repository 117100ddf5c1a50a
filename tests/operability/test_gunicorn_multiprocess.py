"""compose's web service (daphne), and the gunicorn setup for summed request metrics of an HTTP-only deployment.

What the summing gives under real workers is in tests/live/test_metrics_workers.py.
"""

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml

ROOT = Path(__file__).resolve().parents[2]
# A worker that set a live gauge (summed over live workers only) and counted one request, then exits.
WORKER = """
from prometheus_client import Counter, Gauge
Gauge("in_flight", "Requests in flight.", multiprocess_mode="livesum").set(3)
Counter("served", "Requests served.").inc()
print(__import__("os").getpid())
"""


def web_service() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]


def test_compose_web_is_one_daphne_process_serving_the_api_and_the_socket():
    web = web_service()

    assert web["command"][0] == "daphne" and web["command"][-1] == "offchat_backend.asgi:application"
    # One process: nothing to sum across workers, so no shared metrics directory.
    assert "PROMETHEUS_MULTIPROC_DIR" not in web["environment"]
    # The rest of the shared environment is still there (a YAML merge, not a replacement).
    assert web["environment"]["DJANGO_SETTINGS_MODULE"] == "offchat_backend.settings.production"
    assert web["environment"]["METRICS_BEARER_TOKEN"] == "${METRICS_BEARER_TOKEN:-}"
    assert web["environment"]["PRESENCE_DISCONNECT_GRACE_SECONDS"] == "${PRESENCE_DISCONNECT_GRACE_SECONDS:-10}"


def test_the_image_keeps_a_metrics_directory_for_http_only_gunicorn_workers():
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert re.search(r"^USER app$", dockerfile, re.MULTILINE)
    assert "install -d -o app -g app -m 0700 /run/prometheus" in dockerfile


def worker_files(tmp_path) -> tuple[int, Path]:
    """Run a process that writes metrics into a fresh directory, as a gunicorn worker does; returns its pid."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", WORKER],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)},
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout), directory


def child_exit():
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))["child_exit"]


def test_child_exit_drops_the_dead_workers_live_gauges_and_keeps_its_counts(tmp_path, monkeypatch):
    pid, directory = worker_files(tmp_path)
    assert {p.name for p in directory.iterdir()} == {f"gauge_livesum_{pid}.db", f"counter_{pid}.db"}
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))

    child_exit()(SimpleNamespace(), SimpleNamespace(pid=pid))

    assert {p.name for p in directory.iterdir()} == {f"counter_{pid}.db"}


def test_child_exit_does_nothing_without_the_directory(tmp_path, monkeypatch):
    """The bench and the other suites start gunicorn from the project root without PROMETHEUS_MULTIPROC_DIR."""
    pid, directory = worker_files(tmp_path)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)

    child_exit()(SimpleNamespace(), SimpleNamespace(pid=pid))

    assert {p.name for p in directory.iterdir()} == {f"gauge_livesum_{pid}.db", f"counter_{pid}.db"}
