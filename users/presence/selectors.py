"""Reads of presence, shaped for the API: the status each viewer may see, the full list, the change feed, one's own."""

from collections.abc import Iterable, Sequence
from datetime import datetime

import orjson
from django.conf import settings
from django.db import connection
from django.db.models import BooleanField, Case, ExpressionWrapper, F, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.lookups import GreaterThanOrEqual, LessThan

from users.models import PresenceSession, User, last_seen_or_never
from users.presence import clock, sequence
from users.presence.rules import (
    AWAY,
    HIDDEN,
    OFFLINE,
    ONLINE,
    OPEN,
    PUBLIC_FIELDS,
    STAFF_FIELDS,
    effective_status,
    row_status_expression,
)
from users.presence.scope import EVERYONE, Scope
from users.presence.sequence import Cursor, InvalidCursor
from users.presence.sql import IsoTimestamp, json_entries


def with_effective_status(queryset: QuerySet[User] | None = None, at: datetime | None = None) -> QuerySet[User]:
    """Annotate `effective_status`, the rule of rules.effective_status() computed by the database."""
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
    # A hidden user reads offline, last seen when they went invisible: nothing of their later activity shows.
    return queryset.annotate(
        visible_status=Case(When(HIDDEN, then=Value(OFFLINE)), default=F("effective_status")),
        visible_last_seen=Case(When(HIDDEN, then=F("invisible_since")), default=F("last_seen")),
    )


def _fields(viewer: User) -> tuple[str, ...]:
    return PUBLIC_FIELDS + (STAFF_FIELDS + ("invisible",) if viewer.is_staff else ())


def _rows(viewer: User, queryset: QuerySet[User]) -> list[dict]:
    fields = _fields(viewer)
    # .values() skips model instances and serializers: this list is polled every few seconds.
    last_seen = IsoTimestamp("visible_last_seen") if connection.vendor == "postgresql" else F("visible_last_seen")
    rows = queryset.order_by("id").values_list(*fields, "visible_status", last_seen)
    keys = fields + ("online_status", "last_seen")
    return [dict(zip(keys, row)) for row in rows]


def _entries(viewer: User, queryset: QuerySet[User]) -> list[tuple[int, str]]:
    """_rows() as (id, the entry's JSON text), as the socket sends them; on PostgreSQL the database writes the JSON."""
    if connection.vendor != "postgresql":
        # Times as the API writes them (DRF's encoder): UTC with a Z.
        return [(row["id"], orjson.dumps(row, option=orjson.OPT_UTC_Z).decode()) for row in _rows(viewer, queryset)]
    # A dict and an orjson call per row cost the hub more than the read itself: 50 ms of Python for a
    # 20k-user snapshot, 20 ms this way.
    fields = _fields(viewer)
    rows = queryset.annotate(visible_last_seen_text=IsoTimestamp("visible_last_seen")).values_list(
        *fields, "visible_status", "visible_last_seen_text"
    )
    renamed = {
        **{name: name for name in fields},
        "online_status": "visible_status",
        "last_seen": "visible_last_seen_text",
    }
    return json_entries(rows, renamed)


def list_users_for_viewer(viewer: User, *, status: str | None = None) -> list[dict]:
    """The all-users list as plain dicts, straight from the database; staff also get account fields."""
    queryset = _for_viewer(viewer, User.objects.all(), clock.now())
    if status:
        queryset = queryset.filter(visible_status=status)
    return _rows(viewer, queryset)


def _among(scope: Scope) -> Q:
    """The rows of the users `scope` names (PostgreSQL: one array parameter, however long the list)."""
    if scope == EVERYONE:
        return Q()
    if connection.vendor == "postgresql":
        return Q(RawSQL('"users"."id" = ANY(%s::bigint[])', (sorted(scope),), output_field=BooleanField()))
    return Q(pk__in=sorted(scope))


def presence_snapshot(viewer: User, scope: Scope = EVERYONE) -> tuple[Cursor, list[dict]]:
    """Every user of `scope` as `viewer` sees them now, and the cursor to ask for changes from here."""
    at = clock.now()
    cursor = sequence.horizon(at)  # before the read: what it cannot see stays above the cursor
    return cursor, _rows(viewer, _for_viewer(viewer, User.objects.filter(_among(scope)), at))


def _changed_since(viewer: User, since: Cursor, at: datetime) -> Q:
    """The rows whose presence, as `viewer` sees it, changed between `since` and `at`."""
    # Two kinds of change: writes, found by their position in the change sequence, and timeouts,
    # which no write marks: users whose last heartbeat (or last active one) fell into the window
    # between the cursor's clock and now, started FEED_MARGIN early so that a slow commit or a
    # skewed clock costs a repeat, not a miss.
    start, end = clock.offline_cutoff(since.read_at - clock.FEED_MARGIN), clock.offline_cutoff(at)
    # Written with the sweep index's expression, so each half is one index range.
    seen = last_seen_or_never()
    timed_out = Q(Q(online_status__in=[ONLINE, AWAY]), GreaterThanOrEqual(seen, start), LessThan(seen, end)) | Q(
        online_status=ONLINE, last_active__gte=start, last_active__lt=end
    )
    if viewer.is_staff:
        return since.changed_since("presence_change") | timed_out
    return since.changed_since("visible_change") | (timed_out & ~HIDDEN)


def presence_changes(viewer: User, since: Cursor, scope: Scope = EVERYONE, *, as_text: bool = False) -> tuple:
    """The users of `scope` whose presence, as `viewer` sees it, changed after `since`; InvalidCursor if it is ahead.

    Returns (cursor, entries): dicts, or with `as_text` (id, JSON text) pairs, as the socket sends them.
    """
    at = clock.now()
    cursor = sequence.horizon(at)
    sequence.ensure_issued_before(since, cursor, clock.FEED_MARGIN)
    changed = _for_viewer(viewer, User.objects.filter(_changed_since(viewer, since, at), _among(scope)), at)
    return cursor, (_entries if as_text else _rows)(viewer, changed)


def presence_for_sockets(
    viewer: User, asks: Sequence[tuple[Cursor | None, Scope]]
) -> tuple[Cursor, list[bool], list[tuple[int, str]]]:
    """The first answers of many sockets of one visibility class in one statement: (cursor, full per ask, entries).

    Each ask is (cursor or None, scope). One without a cursor, or with one the server refuses, gets a
    snapshot of its scope (`full`); the others get the changes since their cursor within their scope.
    The rows are the union, so they hold every ask's answer and, at most, entries it already has
    (repeats, never misses): keep the rows of each ask's scope.
    """
    at = clock.now()
    cursor = sequence.horizon(at)
    full, snapshots, resumes = [], [], []
    for since, scope in asks:
        if since is not None:
            try:
                sequence.ensure_issued_before(since, cursor, clock.FEED_MARGIN)
            except InvalidCursor:
                since = None
        full.append(since is None)
        (snapshots if since is None else resumes).append((since, scope))
    condition = Q(pk__in=[])  # nobody, until an ask adds its users
    snapshot_of = _union(scope for _, scope in snapshots)
    if snapshot_of == EVERYONE:
        condition = Q()  # everyone: the resumes' rows are among them
    elif snapshot_of:
        condition |= _among(snapshot_of)
    if resumes and snapshot_of != EVERYONE:
        earliest = Cursor.earliest([since for since, _ in resumes])
        condition |= _changed_since(viewer, earliest, at) & _among(_union(scope for _, scope in resumes))
    return cursor, full, _entries(viewer, _for_viewer(viewer, User.objects.filter(condition), at))


def _union(scopes: Iterable[Scope]) -> Scope:
    union: set[int] = set()
    for scope in scopes:
        if scope == EVERYONE:
            return EVERYONE
        union |= scope
    return frozenset(union)


def sessions_ended_since(at: datetime) -> set[str]:
    """The sessions ended (logout, logout-all, deactivation) at or after `at`: their sockets must close."""
    # Served by the partial index on ended_at; a window, not a list of held sids, so the query's
    # cost does not grow with the sockets a process holds.
    return set(PresenceSession.objects.filter(ended_at__gte=at).values_list("sid", flat=True))


# The presence socket's path (users/sockets/protocol.py keeps the rest of its wire format).
SOCKET_PATH = "/ws/presence/"


def presence_settings() -> dict:
    """The intervals a client needs, so no frontend hard-codes them."""
    return {
        "heartbeat_seconds": settings.PRESENCE_HEARTBEAT_SECONDS,
        "refresh_seconds": settings.PRESENCE_REFRESH_SECONDS,
        "timeout_seconds": settings.PRESENCE_TIMEOUT_SECONDS,
        "idle_seconds": settings.PRESENCE_IDLE_SECONDS,
        "websocket": SOCKET_PATH,
        "watch_max": settings.PRESENCE_WATCH_MAX,
    }


def own_presence(user: User, *, current_sid: str | None = None) -> dict:
    """The caller's real status, invisible flag, and live sessions (one per device or tab)."""
    # Live: not logged out, and heard from within the timeout (older ones have lapsed).
    sessions = (
        PresenceSession.objects.filter(OPEN, user_id=user.pk, last_seen__gte=clock.offline_cutoff())
        .order_by("started_at", "sid")
        .values("sid", "device_id", "state", "started_at", "last_seen")
    )
    return {
        "online_status": effective_status(user),
        "invisible": user.invisible_since is not None,
        "sessions": [
            {
                "device_id": s["device_id"],
                "state": s["state"],
                "started_at": s["started_at"],
                "last_seen": s["last_seen"],
                "current": s["sid"] == current_sid,
            }
            for s in sessions
        ],
    }
