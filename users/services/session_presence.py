"""Presence writes per session (one per device or tab), each deriving the user row's columns in the same transaction.

Lock order is always sessions first, then the user row, so two writers never wait on each other in a cycle.
"""
import logging
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Case, DateTimeField, F, Q, Subquery, When
from django.db.models.functions import Coalesce, Greatest
from django.db.models.lookups import Exact

from users.models import PresenceSession, User
from users.services import presence_time
from users.services.presence_sql import OFFLINE, ONLINE, moment, offline_now, online_now, positions, update_returning
from users.services.presence_status import derived_status_expression
from users.services.user_presence import update_user_last_seen

logger = logging.getLogger("users.services.simple_online_status")  # the public entry's name (see user_presence)
ACTIVE = PresenceSession.State.ACTIVE
# A session expires by time alone (no heartbeat within PRESENCE_TIMEOUT_SECONDS), like a user's status,
# so a device back from sleep resumes it with its next heartbeat; only a logout ends it for good.
OPEN = Q(ended_at__isnull=True)


def _raise_settled_online(user_id: int, at: datetime) -> bool:
    """The usual heartbeat: a user already settled online stays so, with no new change position.

    Equivalent to online_now() for such a row (unchanged_for_readers() holds), but a short UPDATE:
    compiling online_now()'s CASE expressions cost the heartbeat more Python than the rest of the
    request (docs/BENCHMARKS.md). The WHERE is re-checked under the row lock, so a row that a racing
    logout or sweep has just changed matches nothing and the caller falls back to the full write.
    """
    settled = presence_time.offline_cutoff(at + presence_time.FEED_MARGIN)
    now = moment(at)
    return bool(
        User.objects.filter(pk=user_id, is_active=True, online_status=ONLINE, last_seen__gte=settled)
        .filter(Q(last_active__gte=settled) | Q(last_active__isnull=True))
        .update(last_seen=Greatest(F("last_seen"), now), last_active=Greatest(Coalesce(F("last_active"), now), now))
    )


# The usual heartbeat on PostgreSQL, in one statement and one round trip: the session refreshed, and
# the user raised (as _raise_settled_online does) only if that session is open and the user settled
# online. Together they were a transaction of three round trips plus the ORM compiling two UPDATEs,
# which made a heartbeat cost more than half again what GET /me/ does (docs/BENCHMARKS.md). The data-
# modifying CTEs run in one snapshot and lock the session row before the user row (the module's order).
_SETTLED_HEARTBEAT_SQL = """
WITH session AS (
    UPDATE presence_sessions SET last_seen = %(at)s, state = %(active)s
    WHERE sid = %(sid)s AND user_id = %(user_id)s AND ended_at IS NULL
    RETURNING user_id
), person AS (
    UPDATE users
    SET last_seen = GREATEST(users.last_seen, %(at)s), last_active = GREATEST(COALESCE(users.last_active, %(at)s), %(at)s)
    FROM session
    WHERE users.id = session.user_id AND users.is_active AND users.online_status = %(online)s
      AND users.last_seen >= %(settled)s AND (users.last_active >= %(settled)s OR users.last_active IS NULL)
    RETURNING users.id
)
SELECT (SELECT count(*) FROM session), (SELECT count(*) FROM person)
"""


def _settled_heartbeat(user_id: int, sid: str, at: datetime) -> bool:
    """PostgreSQL: an active heartbeat for an open session of a user settled online, as one statement; False if not that case."""
    if connection.vendor != "postgresql":
        return False
    params = {
        "at": at, "sid": sid, "user_id": user_id, "active": ACTIVE, "online": ONLINE,
        "settled": presence_time.offline_cutoff(at + presence_time.FEED_MARGIN),
    }
    with connection.cursor() as cursor:
        cursor.execute(_SETTLED_HEARTBEAT_SQL, params)
        session_refreshed, user_raised = cursor.fetchone()
    return bool(session_refreshed and user_raised)


def _lock_user_row(user_id: int) -> None:
    """Hold the user row until commit, so the derived columns are recomputed from a current view of the sessions."""
    # Under READ COMMITTED a statement sees the sessions as of its start: without this lock, a
    # recompute racing another device's heartbeat could write back an older picture of them.
    list(User.objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True))


def _recompute_user(user_id: int, at: datetime) -> list[tuple[int, str]]:
    """Derive status, last_seen and last_active from the user's open sessions (call under _lock_user_row)."""
    open_sessions = PresenceSession.objects.filter(user_id=user_id, ended_at__isnull=True).order_by("-last_seen")
    seen = Subquery(open_sessions.values("last_seen")[:1], output_field=DateTimeField())
    active = Subquery(open_sessions.filter(state=ACTIVE).values("last_seen")[:1], output_field=DateTimeField())
    status = derived_status_expression(seen, active, at)
    # With no fresh session left the user is offline, last seen now (as a logout always was).
    last_seen = Case(When(Exact(status, OFFLINE), then=moment(at)), default=seen)
    new = {"status": status, "last_seen": last_seen, "last_active": active}
    return update_returning(
        User.objects.filter(pk=user_id),
        **positions(new, at), online_status=status, last_seen=last_seen, last_active=active,
    )


def start_presence_session(user_id: int, sid: str, *, device_id: str = "") -> datetime | None:
    """A login: open a session for this device and mark the user online; None if no such active user."""
    with transaction.atomic():
        at = presence_time.now()
        PresenceSession.objects.create(
            sid=sid, user_id=user_id, device_id=device_id, state=ACTIVE, started_at=at, last_seen=at
        )
        updated = User.objects.filter(pk=user_id, is_active=True).update(**online_now(at))
        if not updated:
            transaction.set_rollback(True)
    return at if updated else None


def refresh_presence_session(user_id: int, sid: str, *, state: str = ACTIVE) -> datetime | None:
    """A heartbeat: the session is alive in `state`; returns the time written, or None if it was logged out."""
    at = presence_time.now()
    if state == ACTIVE and _settled_heartbeat(user_id, sid, at):
        return at
    # Anything else (a new or lapsed session, a status to change, idle, SQLite): the general path.
    with transaction.atomic():
        sessions = PresenceSession.objects.filter(sid=sid, user_id=user_id)
        fields = {"last_seen": at, "state": state}
        # `ended_at IS NULL` is re-checked under the row lock: a logout that commits first makes
        # this match nothing (the caller answers 401); one that commits after ends the session anyway.
        if not sessions.filter(OPEN).update(**fields):
            # No row: a token from before sessions existed, or an expired session already deleted.
            # Insert it if absent; a row a logout left behind stays ended and still matches nothing.
            PresenceSession.objects.bulk_create(
                [PresenceSession(sid=sid, user_id=user_id, started_at=at, last_seen=at)], ignore_conflicts=True
            )
            if not sessions.filter(OPEN).update(**fields):
                return None
        if state == ACTIVE:
            # Raising every column to `now` commutes with any other writer: no lock needed.
            if not _raise_settled_online(user_id, at):
                User.objects.filter(pk=user_id, is_active=True).update(**online_now(at))
        else:
            # Going idle may lower last_active to another device's value: recompute under the lock.
            _lock_user_row(user_id)
            _recompute_user(user_id, at)
    return at


def touch_presence_session(sid: str, *, state: str | None = None) -> datetime | None:
    """Activity on an open session (in `state`, if given): refresh its last_seen at most once per PRESENCE_TOUCH_SECONDS."""
    at = presence_time.now()
    sessions = PresenceSession.objects.filter(sid=sid, ended_at__isnull=True, last_seen__lt=presence_time.touch_cutoff(at))
    updated = (sessions.filter(state=state) if state else sessions).update(last_seen=at)
    return at if updated else None


def touch_presence(user_id: int, sid: str | None) -> datetime | None:
    """An authenticated request: refresh the calling session and the user row, each at most once per touch interval.

    A request under an active session is activity like an active heartbeat, so a client that only
    polls (no heartbeats) stays online rather than lapsing to away; one under an idle session only
    proves the device is there. The stored status is never changed here. No transaction is needed:
    each statement is conditional on its own row's freshness and raises times only.
    """
    active = False
    if sid:
        active = touch_presence_session(sid, state=ACTIVE) is not None
        if not active:
            touch_presence_session(sid)
    return update_user_last_seen(user_id, active=active)


def end_presence_session(user_id: int, sid: str, *, reason: str) -> datetime:
    """Logout of one device: end its session; the user stays online or away while another one is fresh."""
    with transaction.atomic():
        at = presence_time.now()
        ended = PresenceSession.objects.filter(sid=sid, user_id=user_id).filter(OPEN)
        if not ended.update(ended_at=at, end_reason=reason):
            # A session with no row yet (a token from before sessions existed): leave an ended row,
            # so a heartbeat racing this logout cannot open it.
            PresenceSession.objects.bulk_create(
                [PresenceSession(sid=sid, user_id=user_id, started_at=at, last_seen=at, ended_at=at, end_reason=reason)],
                ignore_conflicts=True,
            )
        _lock_user_row(user_id)
        for _, status in _recompute_user(user_id, at):
            logger.info("presence user_id=%s status=%s reason=%s", user_id, status, reason)
    return at


def end_all_presence_sessions(user_id: int, *, reason: str) -> int:
    """Logout everywhere (or deactivation): end every session and mark the user offline; returns how many ended."""
    with transaction.atomic():
        at = presence_time.now()
        sessions = PresenceSession.objects.filter(user_id=user_id).filter(OPEN)
        # Locked in one order, so two of these for the same user queue instead of deadlocking.
        list(sessions.select_for_update().order_by("sid").values_list("sid", flat=True))
        ended = sessions.update(ended_at=at, end_reason=reason)
        _lock_user_row(user_id)
        User.objects.filter(pk=user_id).update(**offline_now(at))
    logger.info("presence user_id=%s status=offline reason=%s sessions_ended=%s", user_id, reason, ended)
    return ended
