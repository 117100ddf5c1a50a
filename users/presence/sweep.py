"""The sweep's statements: users whose status lapsed moved to away or offline, sessions past retention deleted."""

from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.db.models.lookups import LessThan

from users.models import PresenceSession, User, last_seen_or_never
from users.presence import clock
from users.presence.rules import AWAY, ONLINE, row_status_expression
from users.presence.sequence import new_positions
from users.presence.sql import update_returning


def lapsed_users(at: datetime) -> Q:
    """Users whose stored status no longer holds at `at`, written so that each half is one index range."""
    cutoff = clock.offline_cutoff(at)
    # Present (online or away) and silent since the cutoff or never seen, as the sweep index's
    # expression; or online with no fresh active heartbeat (an idle device still beating).
    return Q(Q(online_status__in=[ONLINE, AWAY]), LessThan(last_seen_or_never(), cutoff)) | Q(
        online_status=ONLINE, last_active__lt=cutoff
    )


def move_lapsed_users(at: datetime) -> list[tuple[int, str]]:
    """Store the status that lapsed users read at `at`, in one UPDATE; returns (id, new status) of each moved user."""
    lapsed = lapsed_users(at)
    status = row_status_expression(at)
    new = {"status": status, "last_seen": F("last_seen"), "last_active": F("last_active")}
    # Only rows it can lock at once (FOR UPDATE SKIP LOCKED): two sweeps would otherwise lock rows in
    # different orders and deadlock, and a row a heartbeat holds is about to be fresh anyway. The
    # WHERE is re-checked on the locked row, so a heartbeat that committed first keeps its user online.
    lockable = User.objects.filter(lapsed).select_for_update(skip_locked=True).values("pk")
    with transaction.atomic(savepoint=False):  # FOR UPDATE needs a transaction; still one statement
        return update_returning(
            User.objects.filter(lapsed, pk__in=lockable), **new_positions(new, at), online_status=status
        )


def delete_expired_sessions(at: datetime) -> int:
    """Delete sessions ended, or silent, for longer than the retention period; returns how many (two partial indexes serve it)."""
    # A silent session is not rewritten when it lapses: its expiry is read from its time, like a
    # user's status, so the sweep spends no write on it.
    retention = clock.retention_cutoff(at)
    deleted, _ = PresenceSession.objects.filter(
        Q(ended_at__lt=retention) | Q(ended_at__isnull=True, last_seen__lt=retention)
    ).delete()
    return deleted
