"""The presence rule in one place: a user's status at an instant, from the presence columns of their row.

A row reads `online` while its stored status is online and its last active heartbeat is within
PRESENCE_TIMEOUT_SECONDS; `away` while stored online or away and its last heartbeat of any kind is
within the timeout; `offline` otherwise. The same rule exists as a Python function (for one loaded
row) and as SQL expressions (for lists, the sweep and the change sequence), built from any column
expressions so that a write can compare a row before and after it.
"""
from datetime import datetime

from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact, GreaterThanOrEqual

from users.models import User
from users.services import presence_time

ONLINE = User.OnlineStatus.ONLINE
AWAY = User.OnlineStatus.AWAY
OFFLINE = User.OnlineStatus.OFFLINE


def status_of(status: str, last_seen: datetime | None, last_active: datetime | None, at: datetime | None = None) -> str:
    """The status a row reads at `at` (default: now)."""
    cutoff = presence_time.offline_cutoff(at)
    if status == OFFLINE or last_seen is None or last_seen < cutoff:
        return OFFLINE
    # Rows written before sessions existed have no last_active: their last heartbeat was an active one.
    if status == ONLINE and (last_active or last_seen) >= cutoff:
        return ONLINE
    return AWAY


def _at_least(expression: Combinable, moment: datetime):
    """`expression >= moment` as a condition; NULL is never fresh."""
    return GreaterThanOrEqual(expression, Value(moment, output_field=DateTimeField()))


def status_expression(status, last_seen, last_active, at: datetime | None = None) -> Case:
    """status_of() as SQL over the given column expressions."""
    cutoff = presence_time.offline_cutoff(at)
    active = Coalesce(last_active, last_seen, output_field=DateTimeField())
    return Case(
        When(Q(Exact(status, ONLINE)) & Q(_at_least(last_seen, cutoff)) & Q(_at_least(active, cutoff)), then=Value(ONLINE)),
        When(~Q(Exact(status, OFFLINE)) & Q(_at_least(last_seen, cutoff)), then=Value(AWAY)),
        default=Value(OFFLINE),
    )


def derived_status_expression(last_seen, last_active, at: datetime) -> Case:
    """The status that open sessions give at `at`: online with a fresh active one, away with any fresh one."""
    cutoff = presence_time.offline_cutoff(at)
    return Case(
        When(_at_least(last_active, cutoff), then=Value(ONLINE)),
        When(_at_least(last_seen, cutoff), then=Value(AWAY)),
        default=Value(OFFLINE),
    )


def row_status_expression(at: datetime | None = None) -> Case:
    """The status of every row at `at`, for annotations and filters."""
    return status_expression(F("online_status"), F("last_seen"), F("last_active"), at)


def unchanged_for_readers(old: dict, new: dict, at: datetime) -> Q:
    """True when a write cannot change what any reader saw or will see before `at` + the feed margin.

    `old` and `new` map status, last_seen and last_active to expressions. A row that reads the same
    status at every instant up to at + margin, before and after the write, needs no new position in
    the change sequence: the feed finds its later timeout from the columns alone. That holds when
    both sides are settled online (fresh heartbeat and active heartbeat), both settled away, or both
    stored offline. Every other write takes a new position. The margin covers a write that commits
    a little after a reader already read the clock (see presence_cursor.py).
    """
    settled = presence_time.offline_cutoff(at + presence_time.FEED_MARGIN)

    def settled_online(side):
        active = Coalesce(side["last_active"], side["last_seen"], output_field=DateTimeField())
        return Q(Exact(side["status"], ONLINE)) & Q(_at_least(side["last_seen"], settled)) & Q(_at_least(active, settled))

    def settled_away(side):
        return Q(Exact(side["status"], AWAY)) & Q(_at_least(side["last_seen"], settled))

    def stored_offline(side):
        return Q(Exact(side["status"], OFFLINE))

    return (
        (settled_online(old) & settled_online(new))
        | (settled_away(old) & settled_away(new))
        | (stored_offline(old) & stored_offline(new))
    )


def row_columns() -> dict:
    """The presence columns of the row being written, as they were before the write."""
    return {"status": F("online_status"), "last_seen": F("last_seen"), "last_active": F("last_active")}
