"""A real `celery -A offchat_backend worker --beat` sweeps silent users offline and leaves heartbeating ones online."""

import re
import time
from datetime import timedelta

import pytest
from django_celery_beat.models import PeriodicTask

from tests.live.conftest import SWEEP_SECONDS, TIMEOUT_SECONDS, presence_row, wait_until
from users.presence import clock as presence_clock
from users.services.simple_online_status import mark_user_online

pytestmark = pytest.mark.live
TIMEOUT = timedelta(seconds=TIMEOUT_SECONDS)


def test_beat_marks_the_silent_user_offline_while_the_heartbeating_user_stays_online(make_user, celery_worker_beat):
    talker, silent = make_user(username="talker"), make_user(username="silent")
    mark_user_online(talker.id)
    silent_since = mark_user_online(silent.id)

    def silent_is_offline():
        celery_worker_beat.assert_running()
        mark_user_online(talker.id)  # the talker's client heartbeats at every poll
        assert presence_row("talker")[1] == "online", "a heartbeating user was marked offline"
        return presence_row("silent")[1] == "offline"

    wait_until(silent_is_offline, interval=0.5, describe=celery_worker_beat.describe)
    assert presence_clock.now() - silent_since >= TIMEOUT, "marked offline before the timeout"

    # Two more sweeps while the talker keeps heartbeating: it survives every one of them.
    deadline = time.monotonic() + 2 * SWEEP_SECONDS + 0.5
    while time.monotonic() < deadline:
        mark_user_online(talker.id)
        time.sleep(0.5)
    _, status, last_seen = presence_row("talker")
    assert status == "online" and presence_clock.now() - last_seen < TIMEOUT
    assert presence_row("silent")[1] == "offline"

    # It was the beat entry, kept by the DatabaseScheduler in its table, that ran the sweep on the worker.
    entry = PeriodicTask.objects.select_related("interval").get(name="presence-sweep")
    assert entry.task == "users.tasks.check_and_mark_offline_users"
    assert (entry.interval.every, entry.interval.period) == (SWEEP_SECONDS, "seconds")
    assert re.search(
        r"Task users\.tasks\.check_and_mark_offline_users\[[-0-9a-f]+\] succeeded in \S+: 1\b", celery_worker_beat.log()
    ), celery_worker_beat.describe()
