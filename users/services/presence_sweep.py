"""The sweep: users whose status lapsed are moved to away or offline, and sessions past retention deleted."""
import logging

from django.db import transaction
from django.db.models import F, Q
from django.db.models.lookups import LessThan

from users.models import PresenceSession, User, last_seen_or_never
from users.services import presence_time
from users.services.presence_sql import AWAY, OFFLINE, ONLINE, positions, update_returning
from users.services.presence_status import row_status_expression

logger = logging.getLogger("users.services.simple_online_status")  # the public entry's name (see user_presence)


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
        moved = update_returning(
            User.objects.filter(lapsed, pk__in=User.objects.filter(lapsed).select_for_update(skip_locked=True).values("pk")),
            **positions(new, at), online_status=status,
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
