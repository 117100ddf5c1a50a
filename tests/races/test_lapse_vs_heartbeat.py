"""A socket's lapse racing a heartbeat of the same session (PostgreSQL): the heartbeat that commits first keeps it."""

import pytest

from users.models import PresenceSession, User
from users.presence import clock as presence_clock
from users.presence.session_writes import refresh_presence_session, start_presence_session
from users.presence.socket_writes import lapse_disconnected_session

pytestmark = pytest.mark.postgres


def test_a_lapse_waits_for_a_heartbeat_holding_the_session_and_then_lapses_nothing(
    on_postgres, user, behind_a_held_write
):
    """The lapse's `last_seen <= closed_at` is re-checked under the session's lock, after the heartbeat's commit."""
    start_presence_session(user.pk, "tab")
    closed_at = presence_clock.now()  # the tab's socket closes; the same tab heartbeats over HTTP after it

    lapsed = behind_a_held_write(
        lambda: refresh_presence_session(user.pk, "tab", state="active"),
        lambda: lapse_disconnected_session(user.pk, "tab", closed_at),
    )

    assert lapsed == []
    assert User.objects.get(pk=user.pk).online_status == "online"
    assert PresenceSession.objects.get(sid="tab").last_seen > closed_at


def test_a_heartbeat_after_a_lapse_that_held_the_session_brings_the_user_back(on_postgres, user, behind_a_held_write):
    """The other order: the lapse commits first, and the heartbeat waiting on the session resumes it."""
    start_presence_session(user.pk, "tab")
    closed_at = presence_clock.now()

    answer = behind_a_held_write(
        lambda: lapse_disconnected_session(user.pk, "tab", closed_at),
        lambda: refresh_presence_session(user.pk, "tab", state="active"),
    )

    assert answer[1] == "online"
    assert User.objects.get(pk=user.pk).online_status == "online"
