"""Presence writes to the user row alone: online, offline (one or many), the activity touch, invisible mode."""
import logging
from collections.abc import Iterable
from datetime import datetime

from django.db.models import F, Q
from django.db.models.functions import Coalesce, Greatest

from users.models import User
from users.services import presence_time
from users.services.presence_sql import AWAY, OFFLINE, ONLINE, moment, offline_now, online_now, positions, update_returning

# One logger for every transition line, named after the public entry module operators know.
logger = logging.getLogger("users.services.simple_online_status")


def mark_user_online(user_id: int) -> datetime | None:
    """Mark an active user online as of now; returns the time written, or None if no such active user."""
    at = presence_time.now()
    updated = User.objects.filter(pk=user_id, is_active=True).update(**online_now(at))
    return at if updated else None


def mark_user_offline(user_id: int, *, reason: str = "logout") -> datetime | None:
    """Mark a user offline as of now; returns the time written, or None if no such user."""
    at = presence_time.now()
    updated = User.objects.filter(pk=user_id).update(**offline_now(at))
    if updated:
        logger.info("presence user_id=%s status=offline reason=%s", user_id, reason)
    return at if updated else None


def mark_users_offline(user_ids: Iterable[int], *, reason: str) -> int:
    """Mark offline those of the given users who are stored online or away, in one UPDATE; returns how many changed."""
    # last_seen stays: it is the user's last activity, and an operator's click is not theirs.
    # A lazy queryset of ids becomes a subquery, so the whole selection is still one statement.
    at = presence_time.now()
    rows = update_returning(
        User.objects.filter(pk__in=user_ids, online_status__in=[ONLINE, AWAY]),
        online_status=OFFLINE, **positions({}, at, always=True),
    )
    for user_id, _ in rows:
        logger.info("presence user_id=%s status=offline reason=%s", user_id, reason)
    return len(rows)


def update_user_last_seen(user_id: int, *, active: bool = False) -> datetime | None:
    """Refresh last_seen (and last_active, for activity on an active session) unless fresher than PRESENCE_TOUCH_SECONDS.

    Never touches the stored status: only logins, heartbeats, logouts and the sweep change it.
    """
    at = presence_time.now()
    last_active = Greatest(Coalesce(F("last_active"), moment(at)), moment(at)) if active else F("last_active")
    new = {"status": F("online_status"), "last_seen": moment(at), "last_active": last_active}
    # The freshness test lives in the WHERE clause, so two processes racing to touch
    # the same user write once, and last_seen never moves backwards.
    updated = (
        User.objects.filter(pk=user_id)
        .filter(Q(last_seen__isnull=True) | Q(last_seen__lt=presence_time.touch_cutoff(at)))
        .update(**positions(new, at), last_seen=at, last_active=last_active)
    )
    return at if updated else None


def set_user_invisible(user_id: int, invisible: bool) -> bool:
    """Hide or show the user's presence to non-staff; returns whether anything changed."""
    at = presence_time.now()
    # Conditional on the current flag, so a repeated request writes nothing and moves no cursor.
    rows = User.objects.filter(pk=user_id, invisible_since__isnull=invisible)
    return bool(rows.update(invisible_since=at if invisible else None, **positions({}, at, always=True)))
