"""`manage.py demo_presence`: the demo users' presence changes, and no other account is touched."""

import io
import random

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_demo_presence_changes_only_the_demo_users(make_user, row, monkeypatch):
    demo = [make_user(username=name) for name in ("alice", "bob", "carol")]
    real = make_user(username="dave")
    random.seed(3)  # the same draws every run
    monkeypatch.setattr(random, "random", lambda: 0.0)  # an online demo user always logs out

    call_command("demo_presence", every=0, changes=30, stdout=io.StringIO())

    assert all(row(user).last_seen is not None for user in demo)  # each came online at least once
    assert (row(real).online_status, row(real).last_seen) == ("offline", None)
