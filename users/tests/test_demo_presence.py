"""`manage.py seed_demo` and `manage.py demo_presence`: the player plays its own accounts only."""

import io
import logging
import os
import random
import signal
import threading
import time

import pytest
from django.core.management import call_command

from users.models import PresenceSession, User
from users.presence import transition_log

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


def test_the_player_logs_no_transition_of_its_own_accounts_by_default(caplog):
    call_command("seed_demo", stdout=io.StringIO())

    with caplog.at_level(logging.INFO):
        call_command("demo_presence", every=0, changes=12, stdout=io.StringIO())

    assert not [r for r in caplog.records if r.name == transition_log.__name__]
    assert logging.getLogger(transition_log.__name__).level == logging.NOTSET  # left as it was found


def test_the_player_logs_each_transition_with_verbosity_2(caplog):
    call_command("seed_demo", stdout=io.StringIO())

    with caplog.at_level(logging.INFO):
        call_command("demo_presence", every=0, changes=12, verbosity=2, stdout=io.StringIO())

    assert [r for r in caplog.records if r.name == transition_log.__name__]


def test_sigterm_stops_the_player_at_once_with_its_open_tab_logged_out():
    call_command("seed_demo", stdout=io.StringIO())
    # The first change logs a played user in; honcho's SIGTERM comes during the 30 s wait that follows.
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGTERM))
    timer.start()
    out = io.StringIO()
    started = time.monotonic()

    try:
        call_command("demo_presence", every=30, stdout=out)
    finally:
        timer.cancel()

    assert time.monotonic() - started < 10
    assert "demo presence stopped after 1 changes; its open tabs logged out" in out.getvalue()
    played = User.objects.filter(username__startswith="demo-")
    assert list(played.exclude(online_status="offline")) == []
    assert list(PresenceSession.objects.filter(user__in=played).values_list("end_reason", flat=True)) == ["logout"]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the test process's own handling is back
