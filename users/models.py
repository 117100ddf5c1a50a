"""The User model (table `users`) with its stored presence fields."""
from django.contrib.auth.models import AbstractUser
from django.db import models


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
            # number of online users, not the size of the table.
            models.Index(
                fields=["last_seen"],
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
