"""Every write to presence fields; each is one conditional UPDATE, so concurrent writers never lose one."""
import logging
from collections.abc import Iterable
from datetime import datetime

from django.db import connections, transaction
from django.db.models import Q
from django.db.models.lookups import LessThan
from django.db.models.sql import UpdateQuery

from users.models import User, last_seen_or_never
from users.services import presence_time

logger = logging.getLogger(__name__)
ONLINE = User.OnlineStatus.ONLINE
OFFLINE = User.OnlineStatus.OFFLINE


def mark_user_online(user_id: int) -> datetime | None:
    """Mark an active user online as of now; returns the time written, or None if no such active user."""
    at = presence_time.now()
    updated = User.objects.filter(pk=user_id, is_active=True).update(online_status=ONLINE, last_seen=at)
    return at if updated else None


def mark_user_offline(user_id: int, *, reason: str = "logout") -> datetime | None:
    """Mark a user offline as of now; returns the time written, or None if no such user."""
    at = presence_time.now()
    updated = User.objects.filter(pk=user_id).update(online_status=OFFLINE, last_seen=at)
    if updated:
        logger.info("presence user_id=%s status=offline reason=%s", user_id, reason)
    return at if updated else None


def mark_users_offline(user_ids: Iterable[int], *, reason: str) -> int:
    """Mark offline those of the given users who are stored online, in one UPDATE; returns how many changed."""
    # last_seen stays: it is the user's last activity, and an operator's click is not theirs.
    # A lazy queryset of ids becomes a subquery, so the whole selection is still one statement.
    marked_ids = _update_returning_ids(User.objects.filter(pk__in=user_ids, online_status=ONLINE), online_status=OFFLINE)
    for user_id in marked_ids:
        logger.info("presence user_id=%s status=offline reason=%s", user_id, reason)
    return len(marked_ids)


def update_user_last_seen(user_id: int) -> datetime | None:
    """Refresh last_seen unless it is already fresher than PRESENCE_TOUCH_SECONDS; never touches status."""
    at = presence_time.now()
    # The freshness test lives in the WHERE clause, so two processes racing to touch
    # the same user write once, and last_seen never moves backwards.
    updated = (
        User.objects.filter(pk=user_id)
        .filter(Q(last_seen__isnull=True) | Q(last_seen__lt=presence_time.touch_cutoff(at)))
        .update(last_seen=at)
    )
    return at if updated else None


def check_and_mark_offline_users() -> int:
    """Mark offline every online user silent for PRESENCE_TIMEOUT_SECONDS, in one statement; returns how many."""
    cutoff = presence_time.offline_cutoff()
    # Silent since the cutoff or never seen, written as the sweep index's expression so it is one index range.
    stale = Q(Q(online_status=ONLINE), LessThan(last_seen_or_never(), cutoff))
    # One UPDATE, no read first: on PostgreSQL a heartbeat that commits while this runs
    # makes the row fail the re-checked WHERE (last_seen is fresh), so it stays online.
    # Two sweeps at once would lock rows in different orders (each scans the table as its
    # own snapshot sees it) and deadlock, so a sweep only takes the rows it can lock right
    # away (FOR UPDATE SKIP LOCKED): rows another sweep holds are that sweep's job, rows a
    # heartbeat holds are about to be fresh. SQLite ignores the lock clause.
    lockable = User.objects.filter(stale).select_for_update(skip_locked=True).values("pk")
    with transaction.atomic(savepoint=False):  # FOR UPDATE needs a transaction; still one statement
        marked_ids = _update_returning_ids(User.objects.filter(stale, pk__in=lockable), online_status=OFFLINE)
    cutoff_text = cutoff.isoformat()  # once, not once per user: a sweep can mark thousands
    for user_id in marked_ids:
        logger.info("presence user_id=%s status=offline reason=timeout cutoff=%s", user_id, cutoff_text)
    if marked_ids:  # and one summary line per sweep, which operators grep for
        logger.info("presence sweep marked_offline=%s reason=timeout cutoff=%s", len(marked_ids), cutoff_text)
    return len(marked_ids)


def _update_returning_ids(queryset, **values) -> list[int]:
    """queryset.update(**values) as the very same single statement, plus RETURNING the ids it changed.

    The ids feed one log line per status transition; reading them first would be a second
    statement and reopen the race the single UPDATE closes.
    """
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    sql, params = query.get_compiler(queryset.db).as_sql()
    if not sql:
        return []
    connection = connections[queryset.db]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {quote(User._meta.db_table)}.{quote(User._meta.pk.column)}", params)
        return [row[0] for row in cursor.fetchall()]
