"""The presence rules, each defined once: the statuses, what a row reads at an instant, what a viewer may see.

A row reads `online` while its stored status is online and its last active heartbeat is within
PRESENCE_TIMEOUT_SECONDS; `away` while stored online or away and its last heartbeat of any kind is
within the timeout; `offline` otherwise. Each rule has a Python form (one loaded row, or Django
expressions for lists, the sweep and SQLite's writes) and an SQL text form (PostgreSQL's precompiled
writes in presence/sql.py), side by side. Both take a `side`, the columns of a row before or after a
write, so that a write can compare the two; users/tests/presence/test_rules.py pins them together.

The SQL forms name their parameters: SQL_PARAMS (the statuses and states), %(cutoff)s for
clock.offline_cutoff(at) and %(settled)s for clock.settled_cutoff(at).
"""

from datetime import datetime

from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact, GreaterThanOrEqual

from users.presence import clock

# --- Statuses and session states -----------------------------------------------------------------
ONLINE, AWAY, OFFLINE = "online", "away", "offline"
STATUSES = (ONLINE, AWAY, OFFLINE)
ACTIVE, IDLE = "active", "idle"
SESSION_STATES = (ACTIVE, IDLE)
# The constant parameters of every SQL form below.
SQL_PARAMS = {"online": ONLINE, "away": AWAY, "offline": OFFLINE, "active": ACTIVE, "idle": IDLE}

# --- What a viewer may see ------------------------------------------------------------------------
PUBLIC_FIELDS = ("id", "username", "first_name", "last_name")
STAFF_FIELDS = ("email", "is_staff", "is_active")
# An invisible user reads offline to everyone but staff.
HIDDEN = Q(invisible_since__isnull=False)
HIDDEN_SQL = "users.invisible_since IS NOT NULL"
# A session counts until a logout ends it; before that it lapses and resumes with time alone.
OPEN = Q(ended_at__isnull=True)
OPEN_SQL = "presence_sessions.ended_at IS NULL"


# --- The status of a row at an instant ------------------------------------------------------------
def status_of(status: str, last_seen: datetime | None, last_active: datetime | None, at: datetime | None = None) -> str:
    """The status a row reads at `at` (default: now)."""
    cutoff = clock.offline_cutoff(at)
    if status == OFFLINE or last_seen is None or last_seen < cutoff:
        return OFFLINE
    # Rows written before sessions existed have no last_active: their last heartbeat was an active one.
    if status == ONLINE and (last_active or last_seen) >= cutoff:
        return ONLINE
    return AWAY


def effective_status(user) -> str:
    """A loaded user's real status now: the stored one, lapsed to away or offline once its heartbeats are too old."""
    # Reads do not trust the stored status alone: if beat stops, a dead user must not show as online.
    return status_of(user.online_status, user.last_seen, user.last_active)


def _at_least(expression: Combinable, moment: datetime):
    """`expression >= moment` as a condition; NULL is never fresh."""
    return GreaterThanOrEqual(expression, Value(moment, output_field=DateTimeField()))


def _active(side: dict) -> Coalesce:
    return Coalesce(side["last_active"], side["last_seen"], output_field=DateTimeField())


def status_expression(side: dict, at: datetime | None = None) -> Case:
    """status_of() as SQL over `side`, a map of status, last_seen and last_active to expressions."""
    cutoff = clock.offline_cutoff(at)
    return Case(
        When(
            Q(Exact(side["status"], ONLINE))
            & Q(_at_least(side["last_seen"], cutoff))
            & Q(_at_least(_active(side), cutoff)),
            then=Value(ONLINE),
        ),
        When(~Q(Exact(side["status"], OFFLINE)) & Q(_at_least(side["last_seen"], cutoff)), then=Value(AWAY)),
        default=Value(OFFLINE),
    )


def row_columns() -> dict:
    """The presence columns of the row being read or written, as they are before a write."""
    return {"status": F("online_status"), "last_seen": F("last_seen"), "last_active": F("last_active")}


# row_columns() in SQL: in an UPDATE's SET and WHERE, `users.…` is the row before the write.
ROW_SQL = {"status": "users.online_status", "last_seen": "users.last_seen", "last_active": "users.last_active"}


def row_status_expression(at: datetime | None = None) -> Case:
    """The status of every row at `at`, for annotations and filters."""
    return status_expression(row_columns(), at)


def derived_status_expression(last_seen, last_active, at: datetime) -> Case:
    """The status that a user's open sessions give at `at`: online with a fresh active one, away with any fresh one."""
    cutoff = clock.offline_cutoff(at)
    return Case(
        When(_at_least(last_active, cutoff), then=Value(ONLINE)),
        When(_at_least(last_seen, cutoff), then=Value(AWAY)),
        default=Value(OFFLINE),
    )


def derived_status_sql(last_seen: str, last_active: str) -> str:
    """derived_status_expression() as SQL text over two SQL expressions."""
    return (
        f"CASE WHEN {last_active} >= %(cutoff)s THEN %(online)s"
        f" WHEN {last_seen} >= %(cutoff)s THEN %(away)s ELSE %(offline)s END"
    )


# --- Settled: no reader can see the status change before at + FEED_MARGIN -------------------------
def settled_online(side: dict, at: datetime) -> Q:
    """`side` reads online at every instant up to `at` + FEED_MARGIN."""
    cutoff = clock.settled_cutoff(at)
    return (
        Q(Exact(side["status"], ONLINE)) & Q(_at_least(side["last_seen"], cutoff)) & Q(_at_least(_active(side), cutoff))
    )


def settled_online_sql(side: dict) -> str:
    """settled_online() as SQL text over `side`, a map of status, last_seen and last_active to SQL expressions."""
    return (
        f"({side['status']} = %(online)s AND {side['last_seen']} >= %(settled)s"
        f" AND COALESCE({side['last_active']}, {side['last_seen']}) >= %(settled)s)"
    )


SETTLED_ONLINE_SQL = settled_online_sql(ROW_SQL)


# A row present (online or away) whose last_seen counts up to `at` + FEED_MARGIN: raising last_seen
# alone, as an idle device's activity does, changes no status a reader can see.
SETTLED_PRESENT_SQL = "users.online_status IN (%(online)s, %(away)s) AND users.last_seen >= %(settled)s"


def settled_away(side: dict, at: datetime) -> Q:
    """`side` reads away at every instant up to `at` + FEED_MARGIN."""
    return Q(Exact(side["status"], AWAY)) & Q(_at_least(side["last_seen"], clock.settled_cutoff(at)))


def settled_away_sql(side: dict) -> str:
    """settled_away() as SQL text over `side`."""
    return f"({side['status']} = %(away)s AND {side['last_seen']} >= %(settled)s)"


def unchanged_for_readers(old: dict, new: dict, at: datetime) -> Q:
    """True when a write from `old` to `new` changes nothing any reader sees before `at` + FEED_MARGIN."""
    # Such a write needs no new change position: the feed finds the row's later timeout from its columns.
    return (
        (settled_online(old, at) & settled_online(new, at))
        | (settled_away(old, at) & settled_away(new, at))
        | (Q(Exact(old["status"], OFFLINE)) & Q(Exact(new["status"], OFFLINE)))
    )


def unchanged_for_readers_sql(old: dict, new: dict) -> str:
    """unchanged_for_readers() as SQL text over two sides."""
    return (
        f"(({settled_online_sql(old)} AND {settled_online_sql(new)})"
        f" OR ({settled_away_sql(old)} AND {settled_away_sql(new)})"
        f" OR ({old['status']} = %(offline)s AND {new['status']} = %(offline)s))"
    )
