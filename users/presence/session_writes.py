"""Presence per session (one per device or tab): login, heartbeat, touch and logout, each deriving the user row.

Lock order is always the session rows first, then the user row, so two writers never wait on each
other in a cycle.
"""

from datetime import datetime

from django.db import connection, transaction

from users.models import PresenceSession
from users.presence import clock, sql, user_writes
from users.presence.rules import ACTIVE, OFFLINE, ONLINE, OPEN
from users.presence.transition_log import log_transitions


def start_presence_session(user_id: int, sid: str, *, device_id: str = "") -> datetime | None:
    """A login: open a session for this device and mark the user online; None if no such active user."""
    with transaction.atomic():
        at = clock.now()
        PresenceSession.objects.create(
            sid=sid, user_id=user_id, device_id=device_id, state=ACTIVE, started_at=at, last_seen=at
        )
        if not user_writes.write_online(user_id, at):
            transaction.set_rollback(True)
            return None
    return at


def refresh_presence_session(user_id: int, sid: str, *, state: str = ACTIVE) -> tuple[datetime, str] | None:
    """A heartbeat: the session is alive in `state`; returns (time written, the user's status), or None once logged out."""
    at = clock.now()
    if state == ACTIVE and connection.vendor == "postgresql":
        refreshed, raised = sql.settled_heartbeat(user_id, sid, at, clock.settled_cutoff(at))
        if raised:
            return at, ONLINE
        if refreshed:  # a user coming (back) online: the session is fresh, the user row needs a new position
            with transaction.atomic(savepoint=False):
                return (at, ONLINE) if user_writes.write_online_if_session_open(user_id, sid, at) else None
    return refresh_in_transaction(user_id, sid, at, state=state)


def refresh_in_transaction(user_id: int, sid: str, at: datetime, *, state: str) -> tuple[datetime, str] | None:
    """refresh_presence_session()'s general path: a new or deleted session, idle, SQLite."""
    with transaction.atomic():
        if not _refresh_open_session(user_id, sid, at, state):
            return None
        if state == ACTIVE:
            # Raising every column to `now` commutes with any other writer: no lock needed.
            if not user_writes.raise_settled_online(user_id, at):
                user_writes.write_online(user_id, at)
            return at, ONLINE
        # Going idle may lower last_active to another device's value: recompute under the lock.
        user_writes.lock_user_row(user_id)
        rows = user_writes.recompute_user(user_id, at)
    return at, rows[0][1] if rows else OFFLINE


def _refresh_open_session(user_id: int, sid: str, at: datetime, state: str) -> bool:
    """Refresh the session unless a logout ended it; a session with no row (deleted after retention) is opened again."""
    sessions = PresenceSession.objects.filter(OPEN, sid=sid, user_id=user_id)
    # `ended_at IS NULL` is re-checked under the row lock: a logout that commits first makes this
    # match nothing (the caller answers 401); one that commits after ends the session anyway.
    if sessions.update(last_seen=at, state=state):
        return True
    # A row a logout left behind stays ended, so the insert is ignored and still nothing matches.
    PresenceSession.objects.bulk_create(
        [PresenceSession(sid=sid, user_id=user_id, started_at=at, last_seen=at)], ignore_conflicts=True
    )
    return bool(sessions.update(last_seen=at, state=state))


def touch_presence_session(sid: str, at: datetime, *, state: str | None = None) -> bool:
    """Activity on an open session (in `state`, if given): refresh its last_seen at most once per PRESENCE_TOUCH_SECONDS."""
    sessions = PresenceSession.objects.filter(OPEN, sid=sid, last_seen__lt=clock.touch_cutoff(at))
    with transaction.atomic(savepoint=False):  # best effort: a session row held elsewhere is skipped
        return bool(user_writes.unlocked(sessions.filter(state=state) if state else sessions).update(last_seen=at))


def end_presence_session(user_id: int, sid: str, *, reason: str) -> datetime:
    """Logout of one device: end its session; the user stays online or away while another one is fresh."""
    with transaction.atomic():
        at = clock.now()
        if not PresenceSession.objects.filter(OPEN, sid=sid, user_id=user_id).update(ended_at=at, end_reason=reason):
            # A session with no row yet: leave an ended one, so a heartbeat racing this logout cannot open it.
            PresenceSession.objects.bulk_create(
                [
                    PresenceSession(
                        sid=sid, user_id=user_id, started_at=at, last_seen=at, ended_at=at, end_reason=reason
                    )
                ],
                ignore_conflicts=True,
            )
        user_writes.lock_user_row(user_id)
        log_transitions(user_writes.recompute_user(user_id, at), reason=reason)
    return at


def end_all_presence_sessions(user_id: int, *, reason: str) -> int:
    """Logout everywhere (or deactivation): end every session and mark the user offline; returns how many ended."""
    with transaction.atomic():
        at = clock.now()
        sessions = PresenceSession.objects.filter(OPEN, user_id=user_id)
        # Locked in one order, so two of these for the same user queue instead of deadlocking.
        list(sessions.select_for_update().order_by("sid").values_list("sid", flat=True))
        ended = sessions.update(ended_at=at, end_reason=reason)
        user_writes.lock_user_row(user_id)
        user_writes.write_offline(user_id, at)
    log_transitions([(user_id, OFFLINE)], reason=reason, sessions_ended=ended)
    return ended
