"""Per-session presence writes (users/presence/session_writes.py): the heartbeat's one-statement path on PostgreSQL."""

import uuid

import pytest
from django.db import connection

from users.models import PresenceSession, User
from users.presence.session_writes import refresh_in_transaction, refresh_presence_session, start_presence_session

pytestmark = pytest.mark.django_db

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


@pytest.mark.parametrize("invisible", [False, True], ids=["visible", "invisible"])
@pytest.mark.parametrize("start", list(STARTS), ids=list(STARTS))
def test_the_one_statement_path_leaves_the_rows_the_general_path_leaves(on_postgres, twin, clock, start, invisible):
    fast, general = twin(STARTS[start], invisible), twin(STARTS[start], invisible)
    before = {user_id: User.objects.get(pk=user_id) for user_id, _ in (fast, general)}
    clock.advance(1)

    assert refresh_presence_session(*fast) == (clock.current, "online")
    assert refresh_in_transaction(*general, clock.current, state="active") == (clock.current, "online")

    assert outcome(*fast, before[fast[0]]) == outcome(*general, before[general[0]])


@pytest.mark.parametrize(
    ("start", "statements"),
    [("settled online", ["WITH SESSION"]), ("swept offline", ["WITH SESSION", 'UPDATE "USERS"'])],
)
def test_a_heartbeat_on_postgresql_is_one_statement_or_two_when_the_user_comes_back(
    on_postgres, twin, clock, capture_queries, start, statements
):
    user_id, sid = twin(STARTS[start], False)
    clock.advance(1)

    with capture_queries() as captured:
        assert refresh_presence_session(user_id, sid) == (clock.current, "online")

    assert [" ".join(q["sql"].split()[:2]).upper() for q in captured.captured_queries] == statements


def test_a_heartbeat_after_the_logout_committed_is_refused_and_writes_nothing(twin, clock):
    user_id, sid = twin(STARTS["swept offline"], False)
    PresenceSession.objects.filter(sid=sid).update(ended_at=clock.current, end_reason="logout")
    before = User.objects.get(pk=user_id)
    clock.advance(1)

    assert refresh_presence_session(user_id, sid) is None

    after = User.objects.get(pk=user_id)
    assert tuple(getattr(after, f) for f in PRESENCE) == tuple(getattr(before, f) for f in PRESENCE)
    assert PresenceSession.objects.get(sid=sid).last_seen != clock.current
