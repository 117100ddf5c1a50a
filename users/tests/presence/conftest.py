"""Fixtures for the presence writes' tests: users with an open session in a given presence state."""

import uuid

import pytest
from django.db import connection

from users.models import PresenceSession, User
from users.presence.session_writes import start_presence_session

STARTS = {
    "settled online": {"online_status": "online", "last_seen": 5, "last_active": 5},
    "away (idle devices)": {"online_status": "away", "last_seen": 5, "last_active": 600},
    "online, last active heartbeat lapsing": {"online_status": "online", "last_seen": 5, "last_active": 115},
    "swept offline": {"online_status": "offline", "last_seen": 600, "last_active": None},
    "never seen": {"online_status": "offline", "last_seen": None, "last_active": None},
}
PRESENCE = ("online_status", "last_seen", "last_active")


@pytest.fixture
def on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement heartbeat is PostgreSQL's")


@pytest.fixture
def twin(make_user, clock, settings):
    """A user with an open session, its presence set as `start` says (ages in seconds); returns (user id, sid)."""
    settings.PRESENCE_TIMEOUT_SECONDS = 120

    def make(start: dict, invisible: bool) -> tuple[int, str]:
        user = make_user()
        sid = uuid.uuid4().hex
        start_presence_session(user.pk, sid)
        ago = {k: (clock.ago(v) if isinstance(v, int) else v) for k, v in start.items() if k != "online_status"}
        User.objects.filter(pk=user.pk).update(
            online_status=start["online_status"], invisible_since=clock.ago(30) if invisible else None, **ago
        )
        PresenceSession.objects.filter(sid=sid).update(last_seen=ago["last_seen"] or clock.ago(3600))
        return user.pk, sid

    return make


def outcome(user_id: int, sid: str, before: User) -> tuple:
    """What readers can tell after a write: presence columns, the session, and which change positions moved."""
    after = User.objects.get(pk=user_id)
    session = PresenceSession.objects.get(sid=sid)
    return (
        tuple(getattr(after, f) for f in PRESENCE),
        (session.last_seen, session.state, session.ended_at),
        after.presence_change != before.presence_change,
        after.visible_change != before.visible_change,
    )
