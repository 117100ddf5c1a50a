"""Every write to presence: the sessions (one per device or tab) and the user row's derived columns.

Each function is one or a few conditional, set-based statements in one transaction; none reads a
value into Python to write it back, so concurrent writers never lose one. Lock order is always
sessions first, then the user row, so two writers never wait on each other in a cycle; the sweep
never waits at all (SKIP LOCKED).
"""
import logging
from collections.abc import Iterable
from datetime import datetime

from django.db import connections, transaction
from django.db.models import Case, DateTimeField, F, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.db.models.lookups import Exact, LessThan
from django.db.models.sql import UpdateQuery

from users.models import PresenceSession, User, last_seen_or_never
from users.services import presence_time
from users.services.presence_cursor import change_position
from users.services.presence_status import (
    derived_status_expression,
    row_columns,
    row_status_expression,
    unchanged_for_readers,
)

logger = logging.getLogger(__name__)
ONLINE = User.OnlineStatus.ONLINE
AWAY = User.OnlineStatus.AWAY
OFFLINE = User.OnlineStatus.OFFLINE
ACTIVE = PresenceSession.State.ACTIVE
# A session expires by time alone (no heartbeat within PRESENCE_TIMEOUT_SECONDS), like a user's status,
# so a device back from sleep resumes it with its next heartbeat; only a logout ends it for good.
OPEN = Q(ended_at__isnull=True)


def _moment(at: datetime | None) -> Value:
    return Value(at, output_field=DateTimeField())


def _positions(new: dict, at: datetime, *, always: bool = False) -> dict:
    """SET clauses giving the row a new place in the change sequence, unless no reader can tell the difference.

    Staff see every change; everyone else only changes of users who are not invisible.
    """
    position = change_position()
    if always:
        return {"presence_change": position, "visible_change": position}
    unchanged = unchanged_for_readers(row_columns(), new, at)
    return {
        "presence_change": Case(When(unchanged, then=F("presence_change")), default=position),
        "visible_change": Case(
            When(unchanged | Q(invisible_since__isnull=False), then=F("visible_change")), default=position
        ),
    }


def _online_now(at: datetime) -> dict:
    """SET clauses for a user who has just been seen active: online as of `at`."""
    new = {"status": Value(ONLINE), "last_seen": _moment(at), "last_active": _moment(at)}
    # Never backwards: two devices' heartbeats may commit in the other order than they read the clock.
    return {
        **_positions(new, at),
        "online_status": ONLINE,
        "last_seen": Greatest(Coalesce(F("last_seen"), _moment(at)), _moment(at)),
        "last_active": Greatest(Coalesce(F("last_active"), _moment(at)), _moment(at)),
    }


def _raise_settled_online(user_id: int, at: datetime) -> bool:
    """The usual heartbeat: a user already settled online stays so, with no new change position.

    Equivalent to _online_now() for such a row (unchanged_for_readers() holds), but a short UPDATE:
    compiling _online_now()'s CASE expressions cost the heartbeat more Python than the rest of the
    request (docs/BENCHMARKS.md). The WHERE is re-checked under the row lock, so a row that a racing
    logout or sweep has just changed matches nothing and the caller falls back to the full write.
    """
    settled = presence_time.offline_cutoff(at + presence_time.FEED_MARGIN)
    moment = _moment(at)
    return bool(
        User.objects.filter(pk=user_id, is_active=True, online_status=ONLINE, last_seen__gte=settled)
        .filter(Q(last_active__gte=settled) | Q(last_active__isnull=True))
        .update(last_seen=Greatest(F("last_seen"), moment), last_active=Greatest(Coalesce(F("last_active"), moment), moment))
    )


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
    last_seen = Case(When(Exact(status, OFFLINE), then=_moment(at)), default=seen)
    new = {"status": status, "last_seen": last_seen, "last_active": active}
    return _update_returning(
        User.objects.filter(pk=user_id),
        **_positions(new, at), online_status=status, last_seen=last_seen, last_active=active,
    )


# --- user-level writes ------------------------------------------------------------


def mark_user_online(user_id: int) -> datetime | None:
    """Mark an active user online as of now; returns the time written, or None if no such active user."""
    at = presence_time.now()
    updated = User.objects.filter(pk=user_id, is_active=True).update(**_online_now(at))
    return at if updated else None


def mark_user_offline(user_id: int, *, reason: str = "logout") -> datetime | None:
    """Mark a user offline as of now; returns the time written, or None if no such user."""
    at = presence_time.now()
    new = {"status": Value(OFFLINE), "last_seen": _moment(at), "last_active": _moment(None)}
    updated = User.objects.filter(pk=user_id).update(
        **_positions(new, at), online_status=OFFLINE, last_seen=at, last_active=None
    )
    if updated:
        logger.info("presence user_id=%s status=offline reason=%s", user_id, reason)
    return at if updated else None


def mark_users_offline(user_ids: Iterable[int], *, reason: str) -> int:
    """Mark offline those of the given users who are stored online or away, in one UPDATE; returns how many changed."""
    # last_seen stays: it is the user's last activity, and an operator's click is not theirs.
    # A lazy queryset of ids becomes a subquery, so the whole selection is still one statement.
    at = presence_time.now()
    rows = _update_returning(
        User.objects.filter(pk__in=user_ids, online_status__in=[ONLINE, AWAY]),
        online_status=OFFLINE, **_positions({}, at, always=True),
    )
    for user_id, _ in rows:
        logger.info("presence user_id=%s status=offline reason=%s", user_id, reason)
    return len(rows)


def update_user_last_seen(user_id: int) -> datetime | None:
    """Refresh last_seen unless it is already fresher than PRESENCE_TOUCH_SECONDS; never touches status."""
    at = presence_time.now()
    new = {"status": F("online_status"), "last_seen": _moment(at), "last_active": F("last_active")}
    # The freshness test lives in the WHERE clause, so two processes racing to touch
    # the same user write once, and last_seen never moves backwards.
    updated = (
        User.objects.filter(pk=user_id)
        .filter(Q(last_seen__isnull=True) | Q(last_seen__lt=presence_time.touch_cutoff(at)))
        .update(**_positions(new, at), last_seen=at)
    )
    return at if updated else None


def set_user_invisible(user_id: int, invisible: bool) -> bool:
    """Hide or show the user's presence to non-staff; returns whether anything changed."""
    at = presence_time.now()
    # Conditional on the current flag, so a repeated request writes nothing and moves no cursor.
    rows = User.objects.filter(pk=user_id, invisible_since__isnull=invisible)
    return bool(rows.update(invisible_since=at if invisible else None, **_positions({}, at, always=True)))


# --- session writes ---------------------------------------------------------------


def start_presence_session(user_id: int, sid: str, *, device_id: str = "") -> datetime | None:
    """A login: open a session for this device and mark the user online; None if no such active user."""
    with transaction.atomic():
        at = presence_time.now()
        PresenceSession.objects.create(
            sid=sid, user_id=user_id, device_id=device_id, state=ACTIVE, started_at=at, last_seen=at
        )
        updated = User.objects.filter(pk=user_id, is_active=True).update(**_online_now(at))
        if not updated:
            transaction.set_rollback(True)
    return at if updated else None


def refresh_presence_session(user_id: int, sid: str, *, state: str = ACTIVE) -> datetime | None:
    """A heartbeat: the session is alive in `state`; returns the time written, or None if it was logged out."""
    with transaction.atomic():
        at = presence_time.now()
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
                User.objects.filter(pk=user_id, is_active=True).update(**_online_now(at))
        else:
            # Going idle may lower last_active to another device's value: recompute under the lock.
            _lock_user_row(user_id)
            _recompute_user(user_id, at)
    return at


def touch_presence_session(sid: str) -> datetime | None:
    """Activity on an open session: refresh its last_seen at most once per PRESENCE_TOUCH_SECONDS."""
    at = presence_time.now()
    updated = PresenceSession.objects.filter(
        sid=sid, ended_at__isnull=True, last_seen__lt=presence_time.touch_cutoff(at)
    ).update(last_seen=at)
    return at if updated else None


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
        new = {"status": Value(OFFLINE), "last_seen": _moment(at), "last_active": _moment(None)}
        User.objects.filter(pk=user_id).update(
            **_positions(new, at), online_status=OFFLINE, last_seen=at, last_active=None
        )
    logger.info("presence user_id=%s status=offline reason=%s sessions_ended=%s", user_id, reason, ended)
    return ended


# --- the sweep ------------------------------------------------------------------


def check_and_mark_offline_users() -> int:
    """The sweep: move users whose status lapsed, delete sessions past retention; returns users changed.

    Sessions are not rewritten when they go silent: a session's expiry is a matter of time, read as
    such (like a user's status), so the sweep spends no write on it. Writing every silent session
    cost as much as the users UPDATE itself (141 ms for 10k sessions at 1M users, docs/PRESENCE.md).
    """
    at = presence_time.now()
    cutoff = presence_time.offline_cutoff(at)
    # Users whose stored status no longer holds: present (online or away) and silent since the
    # cutoff or never seen, written as the sweep index's expression so it is one index range; or
    # online with no fresh active heartbeat (an idle device still beating), from the second index.
    lapsed = Q(Q(online_status__in=[ONLINE, AWAY]), LessThan(last_seen_or_never(), cutoff)) | Q(
        online_status=ONLINE, last_active__lt=cutoff
    )
    status = row_status_expression(at)
    new = {"status": status, "last_seen": F("last_seen"), "last_active": F("last_active")}
    # Only rows it can lock at once (FOR UPDATE SKIP LOCKED): two sweeps would otherwise lock rows
    # in different orders and deadlock, and a row a heartbeat holds is about to be fresh anyway. The
    # WHERE is re-checked on the locked row, so a heartbeat that committed first keeps its user online.
    with transaction.atomic(savepoint=False):  # FOR UPDATE needs a transaction; still one statement
        moved = _update_returning(
            User.objects.filter(lapsed, pk__in=User.objects.filter(lapsed).select_for_update(skip_locked=True).values("pk")),
            **_positions(new, at), online_status=status,
        )

    # Sessions ended, or silent, for longer than the retention period; two partial indexes serve this.
    retention = presence_time.retention_cutoff(at)
    deleted, _ = PresenceSession.objects.filter(
        Q(ended_at__lt=retention) | Q(ended_at__isnull=True, last_seen__lt=retention)
    ).delete()
    cutoff_text = cutoff.isoformat()  # once, not once per user: a sweep can move thousands
    for user_id, new_status in moved:
        logger.info("presence user_id=%s status=%s reason=timeout cutoff=%s", user_id, new_status, cutoff_text)
    offline = sum(new_status == OFFLINE for _, new_status in moved)
    if moved or deleted:  # and one summary line per sweep, which operators grep for
        logger.info(
            "presence sweep marked_offline=%s marked_away=%s sessions_deleted=%s reason=timeout cutoff=%s",
            offline, len(moved) - offline, deleted, cutoff_text,
        )
    return len(moved)


def _update_returning(queryset, **values) -> list[tuple[int, str]]:
    """queryset.update(**values) as the very same single statement, plus RETURNING each changed row's id and new status.

    The rows feed one log line per status transition; reading them first would be a second
    statement and reopen the race the single UPDATE closes.
    """
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    sql, params = query.get_compiler(queryset.db).as_sql()
    if not sql:
        return []
    connection = connections[queryset.db]
    quote = connection.ops.quote_name
    table = quote(User._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {table}.{quote(User._meta.pk.column)}, {table}.{quote('online_status')}", params)
        return [(row[0], row[1]) for row in cursor.fetchall()]
