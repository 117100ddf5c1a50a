"""PostgreSQL stopped mid-test: requests get a JSON 503 (no stack trace), and the same server process
answers again by itself once the database is back (CONN_HEALTH_CHECKS), with no restart."""

import os
import subprocess
import sys
import time

import pytest

from tests.live.conftest import ROOT, Api, LiveProcess, free_port, wait_until, wait_until_healthy

PASSWORD = "Fault-tolerant-42"
RECOVERY_BOUND_SECONDS = 20


@pytest.fixture
def server_env(postgres_cluster, tmp_path):
    """Development settings with DEBUG off, on the test's own cluster; no Redis (this fault is the database)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "DEBUG")}
    env.update(
        DJANGO_SETTINGS_MODULE="offchat_backend.settings.development",
        DEBUG="false",
        DATABASE_URL=postgres_cluster.url,
        OFFCHAT_VAR_DIR=str(tmp_path / "var"),
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run(
        manage + ["migrate", "--noinput"], env=env, cwd=ROOT, check=True, timeout=120, stdout=subprocess.DEVNULL
    )
    create = f"from users.models import User; User.objects.create_user('alice', password='{PASSWORD}')"
    subprocess.run(manage + ["shell", "-c", create], env=env, cwd=ROOT, check=True, timeout=60)
    return env


@pytest.fixture
def server(server_env, tmp_path):
    port = free_port()
    argv = [
        os.path.join(os.path.dirname(sys.executable), "gunicorn"),
        "offchat_backend.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--threads",
        "2",
        "--timeout",
        "30",
    ]
    process = LiveProcess("gunicorn", argv, server_env, tmp_path / "gunicorn.log")
    api = Api(f"http://127.0.0.1:{port}")
    wait_until_healthy(api, process)
    api.process = process
    yield api
    process.stop()


def test_postgres_stopped_mid_test_gives_json_503_and_recovers_without_restart(postgres_cluster, server):
    status, _, body = server.call("POST", "/api/users/login/", {"username": "alice", "password": PASSWORD})
    assert status == 200, body
    access = body["access"]
    pid = server.process.popen.pid

    postgres_cluster.stop()
    for method, path, payload, token in [
        ("GET", "/api/users/all-users/", None, access),
        ("POST", "/api/users/heartbeat/", None, access),
        ("POST", "/api/users/login/", {"username": "alice", "password": PASSWORD}, None),
    ]:
        status, headers, body = server.call(method, path, payload, token=token)
        assert status == 503, (path, status, body)
        assert body == {
            "detail": "The service is temporarily unavailable; try again shortly.",
            "code": "service_unavailable",
        }, body
        assert headers["Retry-After"]
    status, _, body = server.call("GET", "/healthz")
    assert status == 503 and body["failing"] == ["database"], body

    postgres_cluster.start()
    started = time.monotonic()
    wait_until(
        lambda: server.call("GET", "/healthz")[0] == 200,
        timeout=RECOVERY_BOUND_SECONDS,
        describe=server.process.describe,
    )
    status, _, body = server.call("POST", "/api/users/heartbeat/", token=access)
    assert status == 200, body
    status, _, body = server.call("GET", "/api/users/all-users/", token=access)
    assert status == 200 and [u["online_status"] for u in body] == ["online"]
    assert server.process.popen.poll() is None and server.process.popen.pid == pid  # the same process
    assert time.monotonic() - started < RECOVERY_BOUND_SECONDS
