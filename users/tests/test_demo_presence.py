"""`manage.py seed_demo` and `manage.py demo_presence`: the player plays its own accounts only."""

import io
import random

import pytest
from django.core.management import call_command

from users.models import PresenceSession, User

pytestmark = pytest.mark.django_db


def test_the_player_plays_its_own_accounts_through_sessions_and_never_the_walkthrough_users(monkeypatch):
    call_command("seed_demo", stdout=io.StringIO())
    random.seed(3)  # the same draws every run
    monkeypatch.setattr(random, "random", lambda: 0.0)  # an online played user always logs out

    call_command("demo_presence", every=0, changes=30, stdout=io.StringIO())

    played = User.objects.filter(username__startswith="demo-")
    assert played.count() == 3 and all(user.last_seen is not None for user in played)
    assert PresenceSession.objects.filter(user__in=played).exists()  # real sessions, as a client's
    for name in ("alice", "bob", "carol", "admin"):
        user = User.objects.get(username=name)
        assert (user.online_status, user.last_seen) == ("offline", None)
        assert not PresenceSession.objects.filter(user=user).exists()


def test_a_second_seed_applies_passwords_from_the_environment(monkeypatch):
    call_command("seed_demo", stdout=io.StringIO())
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "Admin-pass-12345")
    monkeypatch.setenv("DEMO_USER_PASSWORD", "User-pass-12345")

    out = io.StringIO()
    call_command("seed_demo", stdout=out)

    assert User.objects.get(username="admin").check_password("Admin-pass-12345")
    assert User.objects.get(username="alice").check_password("User-pass-12345")
    assert "DEMO_ADMIN_PASSWORD" in out.getvalue()


def test_a_second_seed_without_passwords_says_how_to_get_in(monkeypatch):
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("DEMO_USER_PASSWORD", raising=False)
    call_command("seed_demo", stdout=io.StringIO())
    out = io.StringIO()

    call_command("seed_demo", stdout=out)

    assert "DEMO_ADMIN_PASSWORD" in out.getvalue() and "changepassword admin" in out.getvalue()
    assert "DEMO_USER_PASSWORD" in out.getvalue()
