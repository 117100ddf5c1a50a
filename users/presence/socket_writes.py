"""Presence writes on behalf of live sockets: the batched touch of a process's sessions, and the lapse after a close."""

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest

from users.models import PresenceSession, User
from users.presence import clock, sql, user_writes
from users.presence.rules import ACTIVE, AWAY, ONLINE, OPEN, row_columns, settled_online
from users.presence.session_writes import write_heartbeat
from users.presence.transition_log import log_transitions

DISCONNECTED = "disconnected"


def touch_live_sessions(sids: list[str], at: datetime) -> int:
    """Sessions held open by sockets are alive at `at`: one statement on PostgreSQL; returns users written the long way."""
    if not sids:
        return 0
    if connection.vendor == "postgresql":
        pending = sql.live_sessions_touch(sids, at, clock.settled_cutoff(at))
    else:
        pending = _touch_in_orm(sids, at)
    # A user the touch could not raise unseen (coming back, or lapsed meanwhile) is written like a heartbeat.
    for user_id, sid, state in {(u, s, st) for u, s, st in pending}:
        write_heartbeat(user_id, sid, at, state=state)
    return len(pending)


def _touch_in_orm(sids: list[str], at: datetime) -> list[tuple[int, str, str]]:
    """touch_live_sessions() for SQLite, whose single writer never waits on a row lock: a few statements."""
    with transaction.atomic():
        sessions = PresenceSession.objects.filter(OPEN, sid__in=sids)
        touched = list(sessions.values_list("user_id", "sid", "state"))
        sessions.update(last_seen=Greatest(F("last_seen"), user_writes.moment(at)))
        active = {user_id for user_id, _, state in touched if state == ACTIVE}
        idle = {user_id for user_id, _, _ in touched} - active
        raised = set(
            User.objects.filter(settled_online(row_columns(), at), pk__in=active, is_active=True).values_list(
                "pk", flat=True
            )
        )
        User.objects.filter(pk__in=raised).update(
            last_seen=user_writes.raised("last_seen", at), last_active=user_writes.raised("last_active", at)
        )
        present = Q(online_status__in=[ONLINE, AWAY], last_seen__gte=clock.settled_cutoff(at), is_active=True)
        idle_raised = set(User.objects.filter(present, pk__in=idle).values_list("pk", flat=True))
        User.objects.filter(pk__in=idle_raised).update(last_seen=user_writes.raised("last_seen", at))
    return [row for row in touched if row[0] not in raised | idle_raised]


def lapse_disconnected_session(user_id: int, sid: str, closed_at: datetime) -> list[tuple[int, str]]:
    """A session whose last socket closed at `closed_at` and that was not heard from since stops counting.

    It is not ended: a heartbeat or a new socket of the session resumes it. Returns the user's
    (id, new status) if the user row changed.
    """
    with transaction.atomic():
        at = clock.now()
        lapsed_to = clock.offline_cutoff(at) - timedelta(milliseconds=1)
        if sql.precompiled():
            # Two statements: the recompute must read the sessions after the user row is locked.
            if not sql.run(
                sql.SESSION_LAPSE_LOCKING_USER, at, sid=sid, user_id=user_id, closed_at=closed_at, lapsed_to=lapsed_to
            ):
                return []
            rows = [row[:2] for row in sql.run(sql.RECOMPUTE_USER, at, user_id=user_id)]
        else:
            # last_seen <= closed_at: no heartbeat, request or socket of this session came since the close.
            sessions = PresenceSession.objects.filter(OPEN, sid=sid, user_id=user_id, last_seen__lte=closed_at)
            if not sessions.update(last_seen=lapsed_to):
                return []
            user_writes.lock_user_row(user_id)
            rows = user_writes.recompute_user(user_id, at)
    log_transitions(rows, reason=DISCONNECTED)
    return rows
