"""`manage.py ensure_superuser`: compose's first admin, from the environment, created once."""

import io

import pytest
from django.core.management import call_command

from users.models import User

pytestmark = pytest.mark.django_db


def test_creates_the_admin_once_from_the_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "root")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "root@example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "Root-pass-12345")

    call_command("ensure_superuser", stdout=io.StringIO())
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "Another-pass-999")
    call_command("ensure_superuser", stdout=io.StringIO())

    admin = User.objects.get(username="root")
    assert admin.is_superuser and admin.is_staff and admin.check_password("Root-pass-12345")


def test_without_the_variables_it_says_how_and_creates_nobody(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    out = io.StringIO()

    call_command("ensure_superuser", stdout=out)

    assert "DJANGO_SUPERUSER_USERNAME" in out.getvalue() and not User.objects.filter(is_superuser=True).exists()
