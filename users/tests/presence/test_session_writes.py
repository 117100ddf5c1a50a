"""Per-session presence writes (users/presence/session_writes.py): PostgreSQL's precompiled statements and the ORM's."""

import uuid

import pytest

from users.models import PresenceSession, User
from users.presence import sql
from users.presence.session_writes import (
    end_all_presence_sessions,
    end_presence_session,
    refresh_presence_session,
    start_presence_session,
    write_heartbeat,
)
from users.tests.presence.conftest import OTHERS, PRESENCE, STARTS

pytestmark = pytest.mark.django_db


def _without_row(write):
    """`write`, for a session whose row the sweep deleted after retention."""

    def run(user_id, sid, at):
        PresenceSession.objects.filter(sid=sid).delete()
        return write(user_id, sid, at)

    return run


def _ended(write):
    """`write`, for a session a logout ended."""

    def run(user_id, sid, at):
        PresenceSession.objects.filter(sid=sid).update(ended_at=at, end_reason="logout")
        return write(user_id, sid, at)

    return run


def _heartbeat(state):
    return lambda user_id, sid, at: write_heartbeat(user_id, sid, at, state=state)


def _logout(user_id, sid, at):
    return end_presence_session(user_id, sid, reason="logout")


WRITES = {
    "login": lambda user_id, sid, at: start_presence_session(user_id, uuid.uuid4().hex, device_id="phone"),
    "active heartbeat": _heartbeat("active"),
    "idle heartbeat": _heartbeat("idle"),
    "active heartbeat, session row deleted": _without_row(_heartbeat("active")),
    "idle heartbeat, session row deleted": _without_row(_heartbeat("idle")),
    "active heartbeat, session ended": _ended(_heartbeat("active")),
    "idle heartbeat, session ended": _ended(_heartbeat("idle")),
    "logout": _logout,
    "logout, session row deleted": _without_row(_logout),
    "logout everywhere": lambda user_id, sid, at: end_all_presence_sessions(user_id, reason="logout_all"),
}


@pytest.mark.parametrize("other", list(OTHERS), ids=list(OTHERS))
@pytest.mark.parametrize("invisible", [False, True], ids=["visible", "invisible"])
@pytest.mark.parametrize("start", list(STARTS), ids=list(STARTS))
@pytest.mark.parametrize("write", list(WRITES), ids=list(WRITES))
def test_each_precompiled_write_leaves_the_rows_its_orm_form_leaves(
    on_postgres, same_as_orm, write, start, invisible, other
):
    same_as_orm(WRITES[write], STARTS[start], invisible, OTHERS[other])


@pytest.mark.parametrize(
    ("write", "start", "row", "sent"),
    [
        ("login", "swept offline", "open", ["SESSION_START"]),
        ("active heartbeat", "settled online", "open", ["ACTIVE_HEARTBEAT"]),
        ("active heartbeat", "swept offline", "open", ["ACTIVE_HEARTBEAT"]),
        ("active heartbeat", "away (idle devices)", "open", ["ACTIVE_HEARTBEAT"]),
        ("active heartbeat", "swept offline", "deleted", ["ACTIVE_HEARTBEAT"]),
        # The second statement is the one that would see a row a concurrent heartbeat re-created.
        ("active heartbeat", "swept offline", "ended", ["ACTIVE_HEARTBEAT", "ACTIVE_HEARTBEAT"]),
        ("idle heartbeat", "settled online", "open", ["IDLE_HEARTBEAT_LOCKING_USER", "RECOMPUTE_USER"]),
        ("idle heartbeat", "swept offline", "deleted", ["IDLE_HEARTBEAT_LOCKING_USER", "RECOMPUTE_USER"]),
        ("logout", "settled online", "open", ["SESSION_END_LOCKING_USER", "RECOMPUTE_USER"]),
        ("logout", "settled online", "deleted", ["SESSION_END_LOCKING_USER", "RECOMPUTE_USER"]),
        ("logout everywhere", "settled online", "open", ["SESSIONS_END_ALL"]),
    ],
)
def test_each_write_on_postgresql_is_one_precompiled_statement_or_a_fixed_few(
    on_postgres, twin, clock, statements, write, start, row, sent
):
    user_id, sid = twin(STARTS[start], False, OTHERS["another device idle"])
    clock.advance(1)
    if row == "deleted":
        PresenceSession.objects.filter(sid=sid).delete()
    elif row == "ended":
        PresenceSession.objects.filter(sid=sid).update(ended_at=clock.current, end_reason="logout")

    _, names, _ = statements(lambda: WRITES[write](user_id, sid, clock.current))

    assert names == sent


@pytest.mark.parametrize("write", ["login", "active heartbeat", "idle heartbeat", "logout", "logout everywhere"])
def test_a_writes_statements_are_built_once_the_same_text_on_every_call(on_postgres, twin, clock, statements, write):
    first, second = twin(STARTS["settled online"], False), twin(STARTS["swept offline"], True)
    clock.advance(1)

    _, _, sent_first = statements(lambda: WRITES[write](*first, clock.current))
    _, _, sent_second = statements(lambda: WRITES[write](*second, clock.current))

    assert sent_first and len(sent_first) == len(sent_second)
    assert all(a is b for a, b in zip(sent_first, sent_second, strict=True)), "a statement was built for the call"
    assert all(any(text is constant for constant in vars(sql).values()) for text in sent_first)


def test_an_idle_heartbeat_answers_the_columns_another_active_device_keeps(twin, clock):
    user_id, sid = twin(STARTS["settled online"], False, OTHERS["another device active"])
    clock.advance(1)

    beat = write_heartbeat(user_id, sid, clock.current, state="idle")

    stored = User.objects.get(pk=user_id)
    assert beat == (clock.current, "online", stored.last_seen, stored.last_active)
    assert (stored.last_seen, stored.last_active) == (clock.current, clock.ago(6))


def test_a_heartbeat_after_the_logout_committed_is_refused_and_writes_nothing(twin, clock):
    user_id, sid = twin(STARTS["swept offline"], False)
    PresenceSession.objects.filter(sid=sid).update(ended_at=clock.current, end_reason="logout")
    before = User.objects.get(pk=user_id)
    clock.advance(1)

    assert refresh_presence_session(user_id, sid) is None

    after = User.objects.get(pk=user_id)
    assert tuple(getattr(after, f) for f in PRESENCE) == tuple(getattr(before, f) for f in PRESENCE)
    assert PresenceSession.objects.get(sid=sid).last_seen != clock.current


def test_a_heartbeat_of_a_deactivated_user_brings_nobody_online(twin, clock):
    user_id, sid = twin(STARTS["swept offline"], False)
    User.objects.filter(pk=user_id).update(is_active=False)
    clock.advance(1)

    assert refresh_presence_session(user_id, sid) is None

    assert User.objects.get(pk=user_id).online_status == "offline"


def test_a_login_of_a_deactivated_user_leaves_no_session(make_user):
    user = make_user(is_active=False)

    assert start_presence_session(user.pk, "no-such-login") is None

    assert not PresenceSession.objects.filter(sid="no-such-login").exists()
    assert User.objects.get(pk=user.pk).online_status == "offline"
