"""Reads of presence, shaped for the API: the status each viewer may see, the full list and the change feed."""
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models.lookups import GreaterThanOrEqual, LessThan
from django.db.models import BooleanField, Case, CharField, ExpressionWrapper, F, Func, Q, QuerySet, Value, When

from users.models import PresenceSession, User, last_seen_or_never
from users.services import presence_cursor, presence_time
from users.services.presence_cursor import Cursor
from users.services.presence_status import row_status_expression, status_of

ONLINE = User.OnlineStatus.ONLINE
AWAY = User.OnlineStatus.AWAY
OFFLINE = User.OnlineStatus.OFFLINE
PUBLIC_FIELDS = ("id", "username", "first_name", "last_name")
STAFF_FIELDS = ("email", "is_staff", "is_active")
HIDDEN = Q(invisible_since__isnull=False)


def effective_status(user: User) -> str:
    """The user's real status now: the stored one, lapsed to away or offline once its heartbeats are too old."""
    # Reads do not trust the stored status alone: if beat stops, a dead user must not show as online.
    return status_of(user.online_status, user.last_seen, user.last_active)


def with_effective_status(queryset: QuerySet[User] | None = None, at: datetime | None = None) -> QuerySet[User]:
    """Annotate `effective_status`, the same rule as effective_status(), computed by the database."""
    queryset = User.objects.all() if queryset is None else queryset
    return queryset.annotate(effective_status=row_status_expression(at))


def online_users() -> QuerySet[User]:
    """Users who are effectively online, most recently active first."""
    return with_effective_status().filter(effective_status=ONLINE).order_by("-last_seen", "id")


def _for_viewer(viewer: User, queryset: QuerySet[User], at: datetime) -> QuerySet[User]:
    """Annotate what `viewer` may see: staff the real status and an `invisible` mark, others offline for hidden users."""
    queryset = with_effective_status(queryset, at)
    if viewer.is_staff:
        return queryset.annotate(
            visible_status=F("effective_status"),
            visible_last_seen=F("last_seen"),
            invisible=ExpressionWrapper(HIDDEN, output_field=BooleanField()),
        )
    # A hidden user reads offline, last seen when they went invisible, so nothing of their
    # later activity shows: not their status, not their heartbeats.
    return queryset.annotate(
        visible_status=Case(When(HIDDEN, then=Value(OFFLINE)), default=F("effective_status")),
        visible_last_seen=Case(When(HIDDEN, then=F("invisible_since")), default=F("last_seen")),
    )


def _rows(viewer: User, queryset: QuerySet[User]) -> list[dict]:
    fields = PUBLIC_FIELDS + (STAFF_FIELDS + ("invisible",) if viewer.is_staff else ())
    # .values() skips model instances and serializers: this list is polled every few seconds.
    # On PostgreSQL the database writes last_seen as the API's ISO string: Django's per-row
    # Python timestamptz loader would otherwise cost more than the query (docs/BENCHMARKS.md).
    last_seen = IsoTimestamp("visible_last_seen") if connection.vendor == "postgresql" else F("visible_last_seen")
    rows = queryset.order_by("id").values_list(*fields, "visible_status", last_seen)
    keys = fields + ("online_status", "last_seen")
    return [dict(zip(keys, row)) for row in rows]


class IsoTimestamp(Func):
    """PostgreSQL: a timestamptz as the API writes it, ISO 8601 in UTC with `Z`, microseconds only when non-zero."""

    template = (
        "CASE WHEN date_trunc('second', %(expressions)s) = %(expressions)s"
        " THEN to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " ELSE to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END"
    )
    output_field = CharField()
def list_users_for_viewer(viewer: User, *, status: str | None = None) -> list[dict]:
    """The all-users list as plain dicts, straight from the database; staff also get account fields."""
    queryset = _for_viewer(viewer, User.objects.all(), presence_time.now())
    if status:
        queryset = queryset.filter(visible_status=status)
    return _rows(viewer, queryset)


def presence_snapshot(viewer: User) -> tuple[Cursor, list[dict]]:
    """Every user as `viewer` sees them now, and the cursor to ask for changes from here."""
    at = presence_time.now()
    cursor = presence_cursor.horizon(at)  # before the read: what it cannot see stays above the cursor
    return cursor, _rows(viewer, _for_viewer(viewer, User.objects.all(), at))


def presence_changes(viewer: User, since: Cursor) -> tuple[Cursor, list[dict]]:
    """The users whose presence, as `viewer` sees it, changed after `since`, and the next cursor.

    Two kinds of change: writes, found by their position in the change sequence, and timeouts,
    which no write marks at the moment they happen. A timeout is the instant a heartbeat becomes
    older than PRESENCE_TIMEOUT_SECONDS, so the users who timed out since the cursor's clock are
    those whose last heartbeat (or last active heartbeat) fell into the matching window; the
    window starts FEED_MARGIN early, so a slow commit or a skewed clock costs a repeat, not a miss.
    InvalidCursor if `since` is ahead of this database (restored or reset since it was issued).
    """
    at = presence_time.now()
    cursor = presence_cursor.horizon(at)
    presence_cursor.ensure_issued_before(since, cursor, presence_time.FEED_MARGIN)
    window = {"gte": presence_time.offline_cutoff(since.read_at - presence_time.FEED_MARGIN),
              "lt": presence_time.offline_cutoff(at)}
    # Written with the sweep index's expression, so each half is one index range.
    seen = last_seen_or_never()
    timed_out = Q(
        Q(online_status__in=[ONLINE, AWAY]), GreaterThanOrEqual(seen, window["gte"]), LessThan(seen, window["lt"])
    ) | Q(online_status=ONLINE, last_active__gte=window["gte"], last_active__lt=window["lt"])
    if viewer.is_staff:
        changed = since.changed_since("presence_change") | timed_out
    else:
        changed = since.changed_since("visible_change") | (timed_out & ~HIDDEN)
    return cursor, _rows(viewer, _for_viewer(viewer, User.objects.filter(changed), at))


def presence_settings() -> dict:
    """The intervals a client needs, so no frontend hard-codes them."""
    return {
        "heartbeat_seconds": settings.PRESENCE_HEARTBEAT_SECONDS,
        "refresh_seconds": settings.PRESENCE_REFRESH_SECONDS,
        "timeout_seconds": settings.PRESENCE_TIMEOUT_SECONDS,
        "idle_seconds": settings.PRESENCE_IDLE_SECONDS,
    }


def own_presence(user: User, *, current_sid: str | None = None) -> dict:
    """The caller's real status, invisible flag, and live sessions (one per device or tab)."""
    sessions = (
        # Live sessions: not logged out, and heard from within the timeout (older ones have expired).
        PresenceSession.objects.filter(
            user_id=user.pk, ended_at__isnull=True, last_seen__gte=presence_time.offline_cutoff()
        )
        .order_by("started_at", "sid")
        .values("sid", "device_id", "state", "started_at", "last_seen")
    )
    return {
        "online_status": effective_status(user),
        "invisible": user.invisible_since is not None,
        "sessions": [
            {
                "device_id": s["device_id"], "state": s["state"], "started_at": s["started_at"],
                "last_seen": s["last_seen"], "current": s["sid"] == current_sid,
            }
            for s in sessions
        ],
    }
