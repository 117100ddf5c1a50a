"""Per-session presence writes (users/presence/session_writes.py): the heartbeat's one-statement path on PostgreSQL."""

import pytest

from users.models import PresenceSession, User
from users.presence.session_writes import refresh_in_transaction, refresh_presence_session
from users.tests.presence.conftest import PRESENCE, STARTS, outcome

pytestmark = pytest.mark.django_db


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
