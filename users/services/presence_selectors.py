"""Reads of presence, shaped for the API: the effective status a client should see."""
from django.conf import settings
from django.db import connection
from django.db.models import Case, CharField, F, Func, Q, QuerySet, Value, When

from users.models import User
from users.services import presence_time

ONLINE = User.OnlineStatus.ONLINE
OFFLINE = User.OnlineStatus.OFFLINE
PUBLIC_FIELDS = ("id", "username", "first_name", "last_name")
STAFF_FIELDS = ("email", "is_staff", "is_active")


def effective_status(user: User) -> str:
    """Online only while the stored status says so and the last activity is within the timeout."""
    # Reads do not trust the stored status alone: if beat stops, a dead user must not show as online.
    if user.online_status == ONLINE and user.last_seen and user.last_seen >= presence_time.offline_cutoff():
        return ONLINE
    return OFFLINE


def with_effective_status(queryset: QuerySet[User] | None = None) -> QuerySet[User]:
    """Annotate `effective_status`, the same rule as effective_status(), computed by the database."""
    queryset = User.objects.all() if queryset is None else queryset
    cutoff = presence_time.offline_cutoff()
    return queryset.annotate(
        effective_status=Case(
            When(Q(online_status=ONLINE, last_seen__gte=cutoff), then=Value(ONLINE)),
            default=Value(OFFLINE),
            output_field=CharField(),
        )
    )


def online_users() -> QuerySet[User]:
    """Users who are effectively online, most recently active first."""
    return with_effective_status().filter(effective_status=ONLINE).order_by("-last_seen", "id")


def list_users_for_viewer(viewer: User, *, status: str | None = None) -> list[dict]:
    """The all-users list as plain dicts, straight from the database; staff also get account fields."""
    fields = PUBLIC_FIELDS + (STAFF_FIELDS if viewer.is_staff else ())
    queryset = with_effective_status().order_by("id")
    if status:
        queryset = queryset.filter(effective_status=status)
    # .values() skips model instances and serializers: this list is polled every few seconds.
    # On PostgreSQL the database writes last_seen as the API's ISO string: Django's per-row
    # Python timestamptz loader would otherwise cost more than the query (docs/BENCHMARKS.md).
    last_seen = IsoTimestamp("last_seen") if connection.vendor == "postgresql" else F("last_seen")
    rows = queryset.values_list(*fields, "effective_status", last_seen)
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


def presence_settings() -> dict:
    """The intervals a client needs, so no frontend hard-codes them."""
    return {
        "heartbeat_seconds": settings.PRESENCE_HEARTBEAT_SECONDS,
        "refresh_seconds": settings.PRESENCE_REFRESH_SECONDS,
        "timeout_seconds": settings.PRESENCE_TIMEOUT_SECONDS,
    }
