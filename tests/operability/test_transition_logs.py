"""Structured log lines (key=value) for every status transition made by logout and the sweep."""

import logging

import pytest

from users import tasks

pytestmark = pytest.mark.django_db
LOGGER = "users.presence.transition_log"


def transitions(caplog) -> list[str]:
    """The per-user lines (the sweep also writes one summary line, `presence sweep marked_offline=N`)."""
    return [
        r.getMessage() for r in caplog.records if r.name == LOGGER and r.getMessage().startswith("presence user_id=")
    ]


def test_logout_logs_the_user_id_and_reason(client_for, user, caplog):
    client = client_for(user)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert client.post("/api/users/logout/", format="json").status_code == 200
    assert transitions(caplog) == [f"presence user_id={user.pk} status=offline reason=logout"]


def test_the_sweep_logs_one_line_per_user_it_marks_offline(make_user, set_presence, clock, caplog):
    stale = [make_user(username=f"quiet{n}") for n in range(3)]
    fresh = make_user(username="lively")
    for person in stale:
        set_presence(person, online_status="online", last_seen=clock.ago(3600))
    set_presence(fresh, online_status="online", last_seen=clock.current)

    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert tasks.check_and_mark_offline_users.delay().get() == 3

    lines = transitions(caplog)
    assert sorted(line.split(" cutoff=")[0] for line in lines) == sorted(
        f"presence user_id={person.pk} status=offline reason=timeout" for person in stale
    )
