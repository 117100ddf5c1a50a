"""The User model (table `users`) with its derived presence fields, one PresenceSession per device or tab, and presence bookkeeping."""

from datetime import UTC, datetime

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Coalesce
from django.db.models.sql.compiler import SQLInsertCompiler

from users.presence import rules, sql

# Stands for "never seen" in the sweep's index, earlier than any real last_seen.
NEVER_SEEN = datetime(1970, 1, 1, tzinfo=UTC)


def last_seen_or_never() -> Coalesce:
    """last_seen, with never-seen users at the start of time: the expression the sweep index holds."""
    return Coalesce("last_seen", models.Value(NEVER_SEEN, output_field=models.DateTimeField()))


class NewRowPosition(models.Expression):
    """A new row's place in the presence change sequence (presence/sequence.py): the default of both position columns.

    The feed then sends a new user whichever path created it (API, admin, createsuperuser, seed,
    plain SQL on PostgreSQL).
    """

    allowed_default = True  # Django's system check (fields.E012, run by migrate) accepts only expressions marked so

    def __init__(self):
        super().__init__(output_field=models.BigIntegerField())

    def as_sql(self, compiler, connection):
        return "0", []

    def as_postgresql(self, compiler, connection):
        return sql.PG_CHANGE_POSITION, []

    def as_sqlite(self, compiler, connection):
        # SQLite allows no subquery in a column DEFAULT, but Django writes a db_default into each
        # INSERT it sends there: the ORM's rows get the next position, plain-SQL ones keep 0.
        if isinstance(compiler, SQLInsertCompiler):
            return sql.SQLITE_NEXT_POSITION, []
        return "0", []


class User(AbstractUser):
    class OnlineStatus(models.TextChoices):
        ONLINE = rules.ONLINE, "Online"
        AWAY = rules.AWAY, "Away"
        OFFLINE = rules.OFFLINE, "Offline"

    # Derived from the user's presence sessions at every write (users/presence/*_writes.py); reads
    # still apply the timeout to it (users/presence/rules.py).
    online_status = models.CharField(max_length=7, choices=OnlineStatus.choices, default=OnlineStatus.OFFLINE)
    last_seen = models.DateTimeField(null=True, blank=True)
    # The latest heartbeat of a session in the `active` state: online needs it fresh, away does not.
    last_active = models.DateTimeField(null=True, blank=True)
    # Set while the user hides their presence; others then see them offline, last seen at this time.
    invisible_since = models.DateTimeField(null=True, blank=True)
    # Positions in the presence change sequence (users/presence/sequence.py): the last change
    # staff can see, and the last change everyone else can see. A new row starts at its creation's
    # position, so the feed sends new accounts; the default lives in the database, so it holds for
    # every way of creating a user, down to a plain-SQL INSERT on PostgreSQL.
    presence_change = models.BigIntegerField(db_default=NewRowPosition())
    visible_change = models.BigIntegerField(db_default=NewRowPosition())

    class Meta:
        db_table = "users"
        indexes = [
            # The sweep and the feed's timeouts: only present rows are indexed, so the cost follows
            # the users online, not the table. The expression makes "silent since the cutoff, or never
            # seen" one index range, and gives ANALYZE statistics over present rows only.
            models.Index(
                last_seen_or_never(),
                name="users_online_last_seen_idx",
                condition=models.Q(online_status__in=[rules.ONLINE, rules.AWAY]),
            ),
            models.Index(
                fields=["last_active"],
                name="users_online_last_active_idx",
                condition=models.Q(online_status=rules.ONLINE),
            ),
            models.Index(fields=["presence_change"], name="users_presence_change_idx"),
            models.Index(fields=["visible_change"], name="users_visible_change_idx"),
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

    def __str__(self) -> str:
        return self.sid


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

    def __str__(self) -> str:
        return f"sweep finished at {self.finished_at:%Y-%m-%d %H:%M:%S}"


class PresenceSession(models.Model):
    """One login (a device or a tab), keyed by the refresh-token family's `sid`; it survives token rotation."""

    class State(models.TextChoices):
        ACTIVE = rules.ACTIVE, "Active"
        IDLE = rules.IDLE, "Idle"

    class EndReason(models.TextChoices):
        NONE = "", "Open"
        LOGOUT = "logout", "Logout"
        LOGOUT_ALL = "logout_all", "Logout everywhere"
        DEACTIVATED = "deactivated", "Account deactivated"

    sid = models.CharField(primary_key=True, max_length=64)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="presence_sessions")
    device_id = models.CharField(max_length=64, blank=True, default="")
    state = models.CharField(max_length=6, choices=State.choices, default=State.ACTIVE)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=12, choices=EndReason.choices, blank=True, default="")

    class Meta:
        db_table = "presence_sessions"
        indexes = [
            # The retention delete of sessions that went silent (open ones, by age).
            models.Index(
                fields=["last_seen"], name="psession_open_last_seen_idx", condition=models.Q(ended_at__isnull=True)
            ),
            # The retention delete: ended sessions by end time.
            models.Index(fields=["ended_at"], name="psession_ended_at_idx", condition=models.Q(ended_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.sid}"
