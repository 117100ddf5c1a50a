"""Fixtures for the presence writes' tests: users with open sessions in a given presence state, and the ORM's writes."""

import contextlib
import uuid

import pytest
from django.db import connection

from users.models import PresenceSession, User
from users.presence import sql
from users.presence.session_writes import start_presence_session

STARTS = {
    "settled online": {"online_status": "online", "last_seen": 5, "last_active": 5},
    "away (idle devices)": {"online_status": "away", "last_seen": 5, "last_active": 600},
    "away, last heartbeat lapsing": {"online_status": "away", "last_seen": 115, "last_active": 600},
    "online, last active heartbeat lapsing": {"online_status": "online", "last_seen": 5, "last_active": 115},
    "swept offline": {"online_status": "offline", "last_seen": 600, "last_active": None},
    "never seen": {"online_status": "offline", "last_seen": None, "last_active": None},
}
# A second device of the same user: its session's state and age in seconds (None: no second device).
OTHERS = {
    "one device": None,
    "another device active": ("active", 5),
    "another device idle": ("idle", 5),
    "another device silent": ("active", 600),
}
PRESENCE = ("online_status", "last_seen", "last_active")
OTHER_SUFFIX = "-other"


@pytest.fixture
def on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("the precompiled statements are PostgreSQL's")


@pytest.fixture
def through_orm(monkeypatch):
    """A context in which the writes take their ORM form (SQLite's) on PostgreSQL too: the reference."""

    @contextlib.contextmanager
    def orm():
        with monkeypatch.context() as patch:
            patch.setattr(sql, "precompiled", lambda: False)
            yield

    return orm


@pytest.fixture
def twin(make_user, clock, settings):
    """A user with an open session, its presence set as `start` says (ages in seconds); returns (user id, sid).

    With `other`, a second open session `<sid>-other` in that (state, age in seconds).
    """
    settings.PRESENCE_TIMEOUT_SECONDS = 120

    def make(start: dict, invisible: bool, other: tuple[str, int] | None = None) -> tuple[int, str]:
        user = make_user()
        sid = uuid.uuid4().hex
        start_presence_session(user.pk, sid)
        ago = {k: (clock.ago(v) if isinstance(v, int) else v) for k, v in start.items() if k != "online_status"}
        # Positions at 0: a test runs in one transaction, so a write's position (its transaction id)
        # would otherwise equal the setup's, and a moved position could not be told from a kept one.
        User.objects.filter(pk=user.pk).update(
            online_status=start["online_status"],
            invisible_since=clock.ago(30) if invisible else None,
            presence_change=0,
            visible_change=0,
            **ago,
        )
        PresenceSession.objects.filter(sid=sid).update(last_seen=ago["last_seen"] or clock.ago(3600))
        if other is not None:
            state, age = other
            PresenceSession.objects.create(
                sid=sid + OTHER_SUFFIX,
                user_id=user.pk,
                state=state,
                started_at=clock.ago(age),
                last_seen=clock.ago(age),
            )
        return user.pk, sid

    return make


def outcome(user_id: int, sid: str, before: User) -> tuple:
    """What readers can tell after a write: presence columns, the sessions, and which change positions moved."""
    after = User.objects.get(pk=user_id)
    sessions = {s.sid: (s.last_seen, s.state, s.ended_at, s.end_reason) for s in after.presence_sessions.all()}
    mine, other = sessions.pop(sid, None), sessions.pop(sid + OTHER_SUFFIX, None)
    return (
        tuple(getattr(after, f) for f in PRESENCE),
        mine,
        other,
        sorted(sessions.values()),  # sessions a login opened
        after.presence_change != before.presence_change,
        after.visible_change != before.visible_change,
    )


@pytest.fixture
def same_as_orm(twin, through_orm, clock):
    """Run `write(user_id, sid, at)` precompiled on one twin and through the ORM on another; both must end alike."""

    def check(write, start: dict, invisible: bool, other: tuple[str, int] | None):
        fast, reference = twin(start, invisible, other), twin(start, invisible, other)
        before = {user_id: User.objects.get(pk=user_id) for user_id, _ in (fast, reference)}
        clock.advance(1)

        written = write(*fast, clock.current)
        with through_orm():
            expected = write(*reference, clock.current)

        assert written == expected
        assert outcome(*fast, before[fast[0]]) == outcome(*reference, before[reference[0]])
        return written

    return check
