"""The database settings a server or worker process runs with: the project's backend, the client deadline, TCP options.

Each case loads the settings in a fresh interpreter, because settings are read once per process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif((ROOT / ".env").exists(), reason="a local .env file overrides the defaults")
PRINT = (
    "import json, django; django.setup(); from django.conf import settings; from django.db import connection; "
    "from offchat_backend.postgresql.base import guard; guard(); "
    "params = connection.get_connection_params() if connection.vendor == 'postgresql' else {}; "
    "print(json.dumps({'engine': settings.DATABASES['default']['ENGINE'], 'deadline': settings.DB_CLIENT_DEADLINE_SECONDS, "
    "'params': {k: params.get(k) for k in ('keepalives', 'tcp_user_timeout', 'connect_timeout')}}))"
)


def load(**env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DATABASE_URL", "OFFCHAT_SERVES"))}
    clean.update(DJANGO_SETTINGS_MODULE="offchat_backend.settings.development", **env)
    done = subprocess.run(
        [sys.executable, "-c", PRINT], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_postgres_urls_get_the_projects_backend_and_sqlite_keeps_djangos():
    sqlite = load(DATABASE_URL="sqlite:////tmp/offchat-settings.sqlite3", DB_CLIENT_DEADLINE_SECONDS="")
    assert sqlite["engine"] == "django.db.backends.sqlite3"
    assert sqlite["deadline"] == 11.0  # compose passes it through empty: the default, a second above the statement's


def test_the_deadline_follows_the_statement_timeout_unless_set():
    assert load(DATABASE_URL="postgres://u@127.0.0.1:1/x", DB_STATEMENT_TIMEOUT_SECONDS="4")["deadline"] == 5.0
    assert load(DB_CLIENT_DEADLINE_SECONDS="1.5")["deadline"] == 1.5


def test_a_guarded_process_connects_with_keepalives_and_the_deadline_as_tcp_user_timeout():
    served = load(
        DATABASE_URL="postgres://u@127.0.0.1:1/x", DB_CLIENT_DEADLINE_SECONDS="2", OFFCHAT_SERVES_REQUESTS="1"
    )
    assert served["params"] == {"keepalives": 1, "tcp_user_timeout": 2000, "connect_timeout": 3}
