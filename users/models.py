"""The User model (table `users`) with its stored presence fields."""
from datetime import datetime, timezone

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Coalesce

# Stands for "never seen" in the sweep's index, earlier than any real last_seen.
NEVER_SEEN = datetime(1970, 1, 1, tzinfo=timezone.utc)


def last_seen_or_never() -> Coalesce:
    """last_seen, with never-seen users at the start of time: the expression the sweep index holds."""
    return Coalesce("last_seen", models.Value(NEVER_SEEN, output_field=models.DateTimeField()))


class User(AbstractUser):
    class OnlineStatus(models.TextChoices):
        ONLINE = "online", "Online"
        OFFLINE = "offline", "Offline"

    online_status = models.CharField(
        max_length=7, choices=OnlineStatus.choices, default=OnlineStatus.OFFLINE
    )
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "users"
        indexes = [
            # Serves the sweep: only online rows are indexed, so its cost follows the
            # number of online users, not the size of the table. The expression makes
            # "silent since the cutoff, or never seen" one index range, and ANALYZE keeps
            # statistics of it over online rows only: on `last_seen` itself the planner
            # judged from every row (mostly long-gone offline users), guessed that most
            # online users were stale, and read every online row (docs/BENCHMARKS.md).
            models.Index(
                last_seen_or_never(),
                name="users_online_last_seen_idx",
                condition=models.Q(online_status="online"),
            ),
        ]

    def __str__(self) -> str:
        return self.username


class RevokedSession(models.Model):
    """A logged-out session id: the durable copy of the revocation list (the cache is its fast path)."""

    sid = models.CharField(max_length=64, primary_key=True)
    revoked_at = models.DateTimeField()
    # No token of the session outlives this; the sweep deletes rows past it.
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "revoked_sessions"


class SweepRecord(models.Model):
    """One row: the last completed presence sweep and running totals, for /healthz and /metrics."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    finished_at = models.DateTimeField()
    duration_seconds = models.FloatField()
    marked_offline = models.IntegerField()
    sweeps_total = models.BigIntegerField(default=0)
    marked_offline_total = models.BigIntegerField(default=0)

    class Meta:
        db_table = "presence_sweep_record"
