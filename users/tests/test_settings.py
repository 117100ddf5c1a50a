"""The settings package (offchat_backend/settings/): environment defaults and where Celery runs eagerly.

Each environment's module is loaded in a fresh interpreter with a clean environment, because
settings are read once per process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

ROOT = Path(__file__).resolve().parents[2]
KNOBS = (
    "PRESENCE_TIMEOUT_SECONDS",
    "PRESENCE_SWEEP_SECONDS",
    "PRESENCE_TOUCH_SECONDS",
    "PRESENCE_HEARTBEAT_SECONDS",
    "PRESENCE_REFRESH_SECONDS",
    "CELERY_TASK_ALWAYS_EAGER",
    "CORS_ALLOWED_ORIGINS",
    "METRICS_BEARER_TOKEN",
)
PRINT_SETTINGS = (
    "import json, django; django.setup(); from django.conf import settings; "
    f"print(json.dumps({{k: getattr(settings, k) for k in {KNOBS!r}}}))"
)

pytestmark = pytest.mark.skipif((ROOT / ".env").exists(), reason="a local .env file overrides the defaults")


def clean_env(**extra) -> dict:
    """The current environment without any setting this project reads, plus `extra`."""
    dropped = {
        "DJANGO_SETTINGS_MODULE",
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "CORS_ALLOWED_ORIGINS",
        "DEBUG",
        "METRICS_BEARER_TOKEN",
    }
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("PRESENCE_")}
    env.setdefault("OFFCHAT_VAR_DIR", str(Path(django_settings.BASE_DIR) / "var"))
    return {**env, **extra}


def load(module: str, **env) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(DJANGO_SETTINGS_MODULE=module, **env),
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_development_defaults_match_the_documented_values():
    """Timeout 120, sweep 60, touch 15, heartbeat 30, refresh 10; CORS allows the frontend dev server; no eager Celery."""
    loaded = load("offchat_backend.settings.development")

    assert [loaded[k] for k in KNOBS[:5]] == [120, 60, 15, 30, 10]
    assert "http://localhost:5173" in loaded["CORS_ALLOWED_ORIGINS"]
    assert loaded["CELERY_TASK_ALWAYS_EAGER"] is False


def test_presence_settings_are_read_from_the_environment():
    loaded = load("offchat_backend.settings.development", PRESENCE_TIMEOUT_SECONDS="7", PRESENCE_TOUCH_SECONDS="2")

    assert (loaded["PRESENCE_TIMEOUT_SECONDS"], loaded["PRESENCE_TOUCH_SECONDS"]) == (7, 2)


def test_production_runs_celery_tasks_on_a_worker():
    loaded = load("offchat_backend.settings.production", SECRET_KEY="x" * 60, ALLOWED_HOSTS="api.example.com")

    assert loaded["CELERY_TASK_ALWAYS_EAGER"] is False


@pytest.mark.parametrize(
    ("environment", "expected"),
    [({}, ""), ({"METRICS_BEARER_TOKEN": ""}, ""), ({"METRICS_BEARER_TOKEN": "s3cret"}, "s3cret")],
)
def test_metrics_bearer_token_is_optional_and_empty_means_unset(environment, expected):
    """docker-compose.yml passes `${METRICS_BEARER_TOKEN:-}`: an empty value must leave /metrics open, like none."""
    loaded = load(
        "offchat_backend.settings.production", SECRET_KEY="x" * 60, ALLOWED_HOSTS="api.example.com", **environment
    )

    assert loaded["METRICS_BEARER_TOKEN"] == expected


def test_production_refuses_to_start_without_a_secret_key():
    done = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(DJANGO_SETTINGS_MODULE="offchat_backend.settings.production", ALLOWED_HOSTS="api.example.com"),
    )

    assert done.returncode != 0
    assert "SECRET_KEY" in done.stderr


def test_unit_tests_run_celery_eagerly():
    assert django_settings.CELERY_TASK_ALWAYS_EAGER is True


def test_manage_py_defaults_to_the_development_settings():
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; print(settings.SETTINGS_MODULE)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "offchat_backend.settings.development"
