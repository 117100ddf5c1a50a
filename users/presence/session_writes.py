"""Presence per session (one per device or tab): login, heartbeat, touch and logout, each deriving the user row.

Lock order is always the session rows first, then the user row, so two writers never wait on each
other in a cycle. On PostgreSQL each write is one precompiled statement (presence/sql.py), or two in
one transaction where the user row must be recomputed from the sessions after it is locked; SQLite
runs the same steps through the ORM.
"""

from datetime import datetime
from typing import NamedTuple

from django.db import transaction

from users.models import PresenceSession, User
from users.presence import clock, sql, user_writes
from users.presence.rules import ACTIVE, OFFLINE, ONLINE, OPEN
from users.presence.transition_log import log_transitions


class Beat(NamedTuple):
    """What a heartbeat wrote: its time, and the user's status, last_seen and last_active after it."""

    at: datetime
    status: str
    last_seen: datetime | None
    last_active: datetime | None


def start_presence_session(user_id: int, sid: str, *, device_id: str = "") -> datetime | None:
    """A login: open a session for this device and mark the user online; None if no such active user."""
    with transaction.atomic():
        at = clock.now()
        if sql.precompiled():
            ((written,),) = sql.run(sql.SESSION_START, at, sid=sid, user_id=user_id, device_id=device_id)
        else:
            PresenceSession.objects.create(
                sid=sid, user_id=user_id, device_id=device_id, state=ACTIVE, started_at=at, last_seen=at
            )
            written = user_writes.write_online(user_id, at)
        if not written:
            transaction.set_rollback(True)
            return None
    return at


def refresh_presence_session(user_id: int, sid: str, *, state: str = ACTIVE) -> tuple[datetime, str] | None:
    """A heartbeat: the session is alive in `state`; returns (time written, the user's status), or None once logged out."""
    beat = write_heartbeat(user_id, sid, clock.now(), state=state)
    return None if beat is None else (beat.at, beat.status)


def write_heartbeat(user_id: int, sid: str, at: datetime, *, state: str) -> Beat | None:
    """A heartbeat at `at` in `state`: what it wrote, or None once the session is logged out (or the user inactive)."""
    if not sql.precompiled():
        return refresh_in_transaction(user_id, sid, at, state=state)
    beat = {"sid": sid, "user_id": user_id, "state": state}
    if state == ACTIVE:
        # A session row that another heartbeat re-created meanwhile (ON CONFLICT DO NOTHING met it) is
        # found by a second statement, whose snapshot is newer.
        for _ in range(2):
            ((found, last_seen, last_active),) = sql.run(sql.ACTIVE_HEARTBEAT, at, **beat)
            if found:  # with no user row written, the user was deactivated meanwhile
                return None if last_seen is None else Beat(at, ONLINE, last_seen, last_active)
        return None
    with transaction.atomic():
        # Going idle may lower last_active to another device's value: the user row is locked, then
        # recomputed in a statement of its own (sql.RECOMPUTE_USER says why). Tried twice, as above.
        if not any(sql.run(sql.IDLE_HEARTBEAT_LOCKING_USER, at, **beat) for _ in range(2)):
            return None
        ((_, status, last_seen, last_active),) = sql.run(sql.RECOMPUTE_USER, at, user_id=user_id)
    return Beat(at, status, last_seen, last_active)


def refresh_in_transaction(user_id: int, sid: str, at: datetime, *, state: str) -> Beat | None:
    """write_heartbeat() through the ORM: SQLite's path, and the reference PostgreSQL's statements are tested against."""
    with transaction.atomic():
        if not _refresh_open_session(user_id, sid, at, state):
            return None
        if state == ACTIVE:
            # Raising every column to `now` commutes with any other writer: no lock needed.
            if user_writes.raise_settled_online(user_id, at) or user_writes.write_online(user_id, at):
                return Beat(at, ONLINE, at, at)
            return None  # an inactive user (deactivated meanwhile) is not brought online
        # Going idle may lower last_active to another device's value: recompute under the lock.
        user_writes.lock_user_row(user_id)
        rows = user_writes.recompute_user(user_id, at)
        last_seen, last_active = User.objects.filter(pk=user_id).values_list("last_seen", "last_active").get()
    return Beat(at, rows[0][1] if rows else OFFLINE, last_seen, last_active)


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
        if sql.precompiled():
            # Two statements: the recompute must read the sessions after the user row is locked.
            sql.run(sql.SESSION_END_LOCKING_USER, at, sid=sid, user_id=user_id, reason=reason)
            rows = [row[:2] for row in sql.run(sql.RECOMPUTE_USER, at, user_id=user_id)]
        else:
            if not PresenceSession.objects.filter(OPEN, sid=sid, user_id=user_id).update(
                ended_at=at, end_reason=reason
            ):
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
            rows = user_writes.recompute_user(user_id, at)
        log_transitions(rows, reason=reason)
    return at


def end_all_presence_sessions(user_id: int, *, reason: str) -> int:
    """Logout everywhere (or deactivation): end every session and mark the user offline; returns how many ended."""
    at = clock.now()
    if sql.precompiled():
        ((ended, _),) = sql.run(sql.SESSIONS_END_ALL, at, user_id=user_id, reason=reason)
    else:
        with transaction.atomic():
            sessions = PresenceSession.objects.filter(OPEN, user_id=user_id)
            # Locked in one order, so two of these for the same user queue instead of deadlocking.
            list(sessions.select_for_update().order_by("sid").values_list("sid", flat=True))
            ended = sessions.update(ended_at=at, end_reason=reason)
            user_writes.lock_user_row(user_id)
            user_writes.write_offline(user_id, at)
    log_transitions([(user_id, OFFLINE)], reason=reason, sessions_ended=ended)
    return ended
