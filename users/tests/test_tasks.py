"""The sweep task (users/tasks.py) and its beat entry."""

import pytest
from django.conf import settings as django_settings

from offchat_backend.celery import app
from users import tasks

pytestmark = pytest.mark.django_db

TASK_NAME = "users.tasks.check_and_mark_offline_users"


def test_the_task_marks_stale_users_offline_in_eager_mode(make_user, clock, set_presence, settings, row):
    """Run through Celery (eager under test settings): stale online users go offline, fresh ones stay."""
    settings.PRESENCE_TIMEOUT_SECONDS = 120
    silent, active = make_user(username="silent"), make_user(username="active")
    set_presence(silent, online_status="online", last_seen=clock.ago(121))
    set_presence(active, online_status="online", last_seen=clock.ago(5))

    result = tasks.check_and_mark_offline_users.delay()

    assert result.get() == 1
    assert row(silent).online_status == "offline"
    assert row(active).online_status == "online"


def test_the_task_is_registered_under_the_name_beat_uses():
    assert tasks.check_and_mark_offline_users.name == TASK_NAME
    assert TASK_NAME in app.tasks


def test_beat_runs_the_sweep_every_presence_sweep_seconds_from_the_database_scheduler():
    """One beat entry for the task, every PRESENCE_SWEEP_SECONDS, kept by django-celery-beat."""
    entries = [e for e in django_settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == TASK_NAME]

    assert len(entries) == 1
    assert entries[0]["schedule"] == float(django_settings.PRESENCE_SWEEP_SECONDS)
    assert django_settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
