"""docker-compose.yml as a new operator runs it: the first admin, and every presence setting passed through."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = (ROOT / "offchat_backend" / "settings" / "base.py").read_text()


def services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_migrate_creates_the_first_admin_from_the_environment():
    migrate = services()["migrate"]
    assert "ensure_superuser" in " ".join(migrate["command"])
    for name in ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_EMAIL", "DJANGO_SUPERUSER_PASSWORD"):
        assert migrate["environment"][name] == f"${{{name}:-}}"


def test_every_presence_setting_of_the_worker_and_web_is_passed_through():
    names = set(re.findall(r'env\.\w+\("(PRESENCE_\w+)"', SETTINGS))
    passed = set(services()["web"]["environment"]) | set(services()["worker"].get("environment") or {})
    shared = set(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["x-app"]["environment"])
    assert names <= passed | shared, sorted(names - passed - shared)
