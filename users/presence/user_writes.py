"""Statements that write presence to the user row: online, offline, the activity touch, invisible mode, the recompute.

Each is one conditional UPDATE; none reads a value into Python to write it back, so concurrent
writers never lose one. Times only move forward (GREATEST), since two devices' writes may commit
in the other order than they read the clock. On PostgreSQL the ones a request or socket sends run
as precompiled text (presence/sql.py); these ORM forms are SQLite's, and the tests' reference.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Case, DateTimeField, F, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.db.models.lookups import Exact

from users.models import PresenceSession, User
from users.presence import clock, sql
from users.presence.rules import (
    ACTIVE,
    AWAY,
    OFFLINE,
    ONLINE,
    OPEN,
    derived_status_expression,
    row_columns,
    settled_online,
)
from users.presence.sequence import new_positions


def moment(at: datetime | None) -> Value:
    """A timestamp as an SQL value, for expressions that compare it with columns."""
    return Value(at, output_field=DateTimeField())


def raised(column: str, at: datetime) -> Greatest:
    """`column` moved forward to `at` (never back); NULL becomes `at`."""
    return Greatest(Coalesce(F(column), moment(at)), moment(at))


def online_now(at: datetime) -> dict:
    """SET clauses for a user who has just been seen active: online as of `at`."""
    new = {"status": Value(ONLINE), "last_seen": moment(at), "last_active": moment(at)}
    return {
        **new_positions(new, at),
        "online_status": ONLINE,
        "last_seen": raised("last_seen", at),
        "last_active": raised("last_active", at),
    }


def offline_now(at: datetime) -> dict:
    """SET clauses for a user who has just left: offline, last seen at `at`."""
    new = {"status": Value(OFFLINE), "last_seen": moment(at), "last_active": moment(None)}
    return {**new_positions(new, at), "online_status": OFFLINE, "last_seen": at, "last_active": None}


def write_online(user_id: int, at: datetime) -> bool:
    """Mark an active user online as of `at`; False if there is no such active user."""
    if sql.precompiled():
        with connection.cursor() as cursor:
            cursor.execute(sql.USER_ONLINE, sql.params(at, user_id=user_id))
            return bool(cursor.rowcount)
    return bool(User.objects.filter(pk=user_id, is_active=True).update(**online_now(at)))


def raise_settled_online(user_id: int, at: datetime) -> bool:
    """A user settled online stays so: times raised, no new change position; False if not settled (use write_online)."""
    # online_now() for such a row minus its CASE expressions, whose compiling cost the heartbeat more
    # Python than the rest of the request. The WHERE is re-checked under the row lock, so a row that a
    # racing logout or sweep has just changed matches nothing and the caller falls back to online_now().
    settled = User.objects.filter(settled_online(row_columns(), at), pk=user_id, is_active=True)
    return bool(settled.update(last_seen=Greatest(F("last_seen"), moment(at)), last_active=raised("last_active", at)))


def write_offline(user_id: int, at: datetime) -> bool:
    """Mark a user offline, last seen at `at`; False if there is no such user."""
    if sql.precompiled():
        with connection.cursor() as cursor:
            cursor.execute(sql.USER_OFFLINE, sql.params(at, user_id=user_id))
            return bool(cursor.rowcount)
    return bool(User.objects.filter(pk=user_id).update(**offline_now(at)))


def write_many_offline(user_ids: Iterable[int], at: datetime) -> list[tuple[int, str]]:
    """Mark offline those of the users who are stored online or away, in one UPDATE; returns the changed rows."""
    # last_seen stays: it is the user's last activity, and an operator's click is not theirs.
    # A lazy queryset of ids becomes a subquery, so the whole selection is still one statement.
    return sql.update_returning(
        User.objects.filter(pk__in=user_ids, online_status__in=[ONLINE, AWAY]),
        online_status=OFFLINE,
        **new_positions({}, at, always=True),
    )


def touch_user(user_id: int, at: datetime, *, active: bool) -> bool:
    """Refresh last_seen (and last_active, for activity of an active session) unless fresher than the touch interval."""
    # The freshness test is in the WHERE clause, so two processes racing to touch the same user
    # write once and last_seen never moves backwards. The stored status is never changed here.
    if sql.precompiled():
        with connection.cursor() as cursor:
            cursor.execute(sql.USER_TOUCH[active], sql.params(at, user_id=user_id, touched=clock.touch_cutoff(at)))
            return bool(cursor.rowcount)
    last_active = raised("last_active", at) if active else F("last_active")
    new = {"status": F("online_status"), "last_seen": moment(at), "last_active": last_active}
    stale = Q(last_seen__isnull=True) | Q(last_seen__lt=clock.touch_cutoff(at))
    rows = unlocked(User.objects.filter(stale, pk=user_id))
    with transaction.atomic(savepoint=False):  # FOR UPDATE needs one; still one statement
        return bool(rows.update(**new_positions(new, at), last_seen=at, last_active=last_active))


def unlocked(queryset):
    """The rows of `queryset` no other transaction holds (PostgreSQL: FOR UPDATE SKIP LOCKED), as one statement.

    For best-effort writes: a row held by an admin's edit, a script or a migration is skipped,
    never waited for (the touch comes again with the next request).
    """
    if connection.vendor != "postgresql":
        return queryset  # SQLite has no row locks: its one writer at a time is the whole story
    return queryset.model.objects.filter(pk__in=queryset.select_for_update(skip_locked=True).values("pk"))


def write_invisible(user_id: int, invisible: bool, at: datetime) -> bool:
    """Hide or show the user's presence to non-staff; False if the flag already had that value."""
    # Conditional on the current flag, so a repeated request writes nothing and moves no cursor.
    rows = User.objects.filter(pk=user_id, invisible_since__isnull=invisible)
    return bool(rows.update(invisible_since=at if invisible else None, **new_positions({}, at, always=True)))


def lock_user_row(user_id: int) -> None:
    """Hold the user row until commit, so its derived columns are recomputed from a current view of the sessions."""
    # Under READ COMMITTED a statement sees the sessions as of its start: without this lock, a
    # recompute racing another device's heartbeat could write back an older picture of them.
    list(User.objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True))


def recompute_user(user_id: int, at: datetime) -> list[tuple[int, str]]:
    """Derive status, last_seen and last_active from the user's open sessions (call under lock_user_row)."""
    open_sessions = PresenceSession.objects.filter(OPEN, user_id=user_id).order_by("-last_seen")
    seen = Subquery(open_sessions.values("last_seen")[:1], output_field=DateTimeField())
    active = Subquery(open_sessions.filter(state=ACTIVE).values("last_seen")[:1], output_field=DateTimeField())
    status = derived_status_expression(seen, active, at)
    # With no fresh session left the user is offline, last seen now (as a logout always was).
    last_seen = Case(When(Exact(status, OFFLINE), then=moment(at)), default=seen)
    new = {"status": status, "last_seen": last_seen, "last_active": active}
    return sql.update_returning(
        User.objects.filter(pk=user_id),
        **new_positions(new, at),
        online_status=status,
        last_seen=last_seen,
        last_active=active,
    )
