"""Login, heartbeat and logout as actions (users/auth/logins.py): what a socket's `state` message sends and leaves."""

import pytest
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from users.auth.logins import SessionEnded, heartbeat, log_in
from users.models import User

pytestmark = pytest.mark.django_db

PRESENCE = ("online_status", "last_seen", "last_active")


@pytest.fixture
def logged_in(user, clock):
    """`user` logged in on one device; returns (user, access token) as a socket holds them after `auth`."""
    refresh = log_in(user)
    return user, AccessToken(str(refresh.access_token))


@pytest.mark.parametrize("state", ["idle", "active"])
def test_a_state_change_leaves_the_loaded_user_as_stored_and_sends_only_its_writes(logged_in, clock, statements, state):
    user, token = logged_in
    if state == "active":  # from away, so that `active` changes the status too
        heartbeat(user, access_token=token, state="idle")
    clock.advance(1)

    (status, written_at), names, _ = statements(lambda: heartbeat(user, access_token=token, state=state))

    stored = User.objects.get(pk=user.pk)
    assert (status, written_at) == ({"idle": "away", "active": "online"}[state], clock.current)
    assert tuple(getattr(user, f) for f in PRESENCE) == tuple(getattr(stored, f) for f in PRESENCE)
    if connection.vendor == "postgresql":  # no read of the user row after the write: it returned the row
        assert names == (["IDLE_HEARTBEAT_LOCKING_USER", "RECOMPUTE_USER"] if state == "idle" else ["ACTIVE_HEARTBEAT"])


def test_a_state_message_after_the_logout_is_refused(logged_in, clock):
    user, token = logged_in
    User.objects.get(pk=user.pk).presence_sessions.update(ended_at=clock.current, end_reason="logout")

    with pytest.raises(SessionEnded):
        heartbeat(user, access_token=token, state="idle")
