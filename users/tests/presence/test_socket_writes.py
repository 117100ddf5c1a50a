"""Writes for live sockets (users/presence/socket_writes.py): the batched touch and the lapse after a close."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection, connections

from users.models import PresenceSession, User
from users.presence.session_writes import start_presence_session, write_heartbeat
from users.presence.socket_writes import lapse_disconnected_session, touch_live_sessions
from users.tests.presence.conftest import OTHERS, STARTS, outcome

pytestmark = pytest.mark.django_db

LAPSES = {
    # The session's socket closed after its last heartbeat: it lapses.
    "silent since the close": lambda user_id, sid, at: [
        status for _, status in lapse_disconnected_session(user_id, sid, at - timedelta(seconds=1))
    ],
    # A heartbeat came after the close: nothing lapses.
    "heard from since": lambda user_id, sid, at: lapse_disconnected_session(user_id, sid, at - timedelta(hours=2)),
}


@pytest.mark.parametrize("other", list(OTHERS), ids=list(OTHERS))
@pytest.mark.parametrize("invisible", [False, True], ids=["visible", "invisible"])
@pytest.mark.parametrize("start", list(STARTS), ids=list(STARTS))
@pytest.mark.parametrize("lapse", list(LAPSES), ids=list(LAPSES))
def test_the_precompiled_lapse_leaves_the_rows_its_orm_form_leaves(
    on_postgres, same_as_orm, lapse, start, invisible, other
):
    same_as_orm(LAPSES[lapse], STARTS[start], invisible, OTHERS[other])


@pytest.mark.parametrize(
    ("lapse", "sent"),
    [
        ("silent since the close", ["SESSION_LAPSE_LOCKING_USER", "RECOMPUTE_USER"]),
        ("heard from since", ["SESSION_LAPSE_LOCKING_USER"]),
    ],
)
def test_a_lapse_on_postgresql_is_two_precompiled_statements_or_one_when_nothing_lapses(
    on_postgres, twin, clock, statements, lapse, sent
):
    first, second = twin(STARTS["settled online"], False), twin(STARTS["settled online"], False)
    clock.advance(1)

    _, names, texts = statements(lambda: LAPSES[lapse](*first, clock.current))
    _, _, again = statements(lambda: LAPSES[lapse](*second, clock.current))

    assert names == sent
    assert all(a is b for a, b in zip(texts, again, strict=True)), "built once, not per call"


@pytest.mark.parametrize("invisible", [False, True], ids=["visible", "invisible"])
@pytest.mark.parametrize("start", list(STARTS), ids=list(STARTS))
def test_the_touch_leaves_the_rows_an_active_heartbeat_leaves(twin, clock, start, invisible):
    touched, beaten = twin(STARTS[start], invisible), twin(STARTS[start], invisible)
    before = {user_id: User.objects.get(pk=user_id) for user_id, _ in (touched, beaten)}
    clock.advance(1)

    touch_live_sessions([touched[1]], clock.current)
    write_heartbeat(*beaten, clock.current, state="active")

    assert outcome(*touched, before[touched[0]]) == outcome(*beaten, before[beaten[0]])


def test_the_touch_of_many_settled_sessions_is_one_statement_on_postgresql(on_postgres, twin, clock, capture_queries):
    sids = [twin(STARTS["settled online"], False)[1] for _ in range(20)]
    clock.advance(1)

    with capture_queries() as captured:
        assert touch_live_sessions(sids, clock.current) == 0

    assert len(captured.captured_queries) == 1
    assert set(PresenceSession.objects.filter(sid__in=sids).values_list("last_seen", flat=True)) == {clock.current}


def test_an_idle_sessions_touch_keeps_its_user_away(twin, clock):
    user_id, sid = twin(STARTS["away (idle devices)"], False)
    PresenceSession.objects.filter(sid=sid).update(state="idle")
    clock.advance(1)

    touch_live_sessions([sid], clock.current)

    user = User.objects.get(pk=user_id)
    assert (user.online_status, user.last_seen) == ("away", clock.current)


def test_the_touch_skips_an_ended_session(twin, clock):
    user_id, sid = twin(STARTS["swept offline"], False)
    PresenceSession.objects.filter(sid=sid).update(ended_at=clock.current, end_reason="logout")
    clock.advance(1)

    touch_live_sessions([sid], clock.current)

    assert User.objects.get(pk=user_id).online_status == "offline"


def test_the_touch_never_waits_for_a_row_another_transaction_holds(on_postgres, twin, clock, transactional_db):
    _, held = twin(STARTS["settled online"], False)
    _, free = twin(STARTS["settled online"], False)
    locked, release = threading.Event(), threading.Event()

    def hold():
        with connections["default"].cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT 1 FROM presence_sessions WHERE sid = %s FOR UPDATE", [held])
            locked.set()
            release.wait(10)
            cursor.execute("ROLLBACK")
        connections["default"].close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(5)
        clock.advance(1)
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")  # a wait would fail the test instead of hanging it
        touch_live_sessions([held, free], clock.current)
    finally:
        release.set()
        holder.join(10)

    seen = dict(PresenceSession.objects.filter(sid__in=[held, free]).values_list("sid", "last_seen"))
    assert seen[free] == clock.current and seen[held] != clock.current


@pytest.fixture
def closed_session(make_user, clock):
    """A user online through one session whose socket closed at clock.current; returns (user, sid, closed_at)."""
    user = make_user()
    sid = uuid.uuid4().hex
    start_presence_session(user.pk, sid)
    return user, sid, clock.current


def test_a_session_silent_since_its_socket_closed_lapses_and_its_user_goes_offline(closed_session, clock):
    user, sid, closed_at = closed_session
    clock.advance(10)

    assert lapse_disconnected_session(user.pk, sid, closed_at) == [(user.pk, "offline")]

    assert User.objects.get(pk=user.pk).online_status == "offline"
    assert PresenceSession.objects.get(sid=sid).ended_at is None  # lapsed, not ended: it may come back


def test_a_heartbeat_after_the_close_keeps_the_session(closed_session, clock):
    user, sid, closed_at = closed_session
    clock.advance(2)
    write_heartbeat(user.pk, sid, clock.current, state="active")
    clock.advance(8)

    assert lapse_disconnected_session(user.pk, sid, closed_at) == []

    assert User.objects.get(pk=user.pk).online_status == "online"


def test_another_device_keeps_the_user_online_when_one_session_lapses(closed_session, clock):
    user, sid, closed_at = closed_session
    start_presence_session(user.pk, uuid.uuid4().hex)
    clock.advance(10)

    lapse_disconnected_session(user.pk, sid, closed_at)

    assert User.objects.get(pk=user.pk).online_status == "online"


def test_a_lapsed_session_resumes_with_its_next_heartbeat(closed_session, clock):
    user, sid, closed_at = closed_session
    clock.advance(10)
    lapse_disconnected_session(user.pk, sid, closed_at)
    clock.advance(5)

    assert write_heartbeat(user.pk, sid, clock.current, state="active")[:2] == (clock.current, "online")
