"""The presence change sequence: a position for every visible change, a safe horizon for readers, the feed cursor.

Positions are never compared with a wall clock. On PostgreSQL a change's position is the id of the
transaction that wrote it (`pg_current_xact_id()`, a 64-bit counter that never wraps). A reader
records the snapshot it read under (`pg_current_snapshot()`: every id below `xmax` that is not in
the in-progress list `xip` had committed). A change that reader could not see was made by a
transaction in `xip` or by one that began later (id >= xmax), so the next read asks for exactly
those: a change committed late is never skipped, however long its transaction stayed open.
On SQLite writers run one at a time (BEGIN IMMEDIATE), so a position one above the highest stored
one is already in commit order and the horizon is simply that highest position.
"""
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL

# A horizon with more transactions in flight than this keeps only its floor (xmin - 1): every
# change since the oldest of them is sent again, which is correct, just larger.
MAX_IN_FLIGHT = 64
_CURSOR = re.compile(r"^(\d{1,20})\.(\d{1,20})\.((?:\d{1,20}(?:-\d{1,20}){0,63})?)$")


class InvalidCursor(ValueError):
    """The `since` value is not a cursor this server issued."""


@dataclass(frozen=True)
class Cursor:
    """Where a client's view stands: changes above `floor` or in `in_flight` are new to it; `read_at` is its clock."""

    read_at: datetime
    floor: int
    in_flight: tuple[int, ...] = field(default=())
    # The newest position the read could have seen (not sent to clients): a cursor beyond it was not
    # issued by this database as it is now (restored, reset or recreated), so it cannot be trusted.
    ceiling: int | None = field(default=None, compare=False)

    def __str__(self) -> str:
        micros = int(self.read_at.timestamp() * 1_000_000)
        return f"{micros}.{self.floor}.{'-'.join(map(str, self.in_flight))}"

    @classmethod
    def parse(cls, text: str) -> "Cursor":
        match = _CURSOR.match(text or "")
        if not match:
            raise InvalidCursor(text)
        micros, floor, in_flight = match.groups()
        read_at = datetime.fromtimestamp(int(micros) / 1_000_000, tz=timezone.utc)
        return cls(read_at, int(floor), tuple(int(x) for x in in_flight.split("-")) if in_flight else ())

    def changed_since(self, column: str) -> Q:
        """Rows whose `column` position is one this cursor had not seen."""
        condition = Q(**{f"{column}__gt": self.floor})
        if self.in_flight:
            condition |= Q(**{f"{column}__in": self.in_flight})
        return condition


def change_position() -> RawSQL:
    """The position of the change being written, for an UPDATE's SET clause (an INSERT gets it from NewRowPosition)."""
    if connection.vendor == "postgresql":
        return RawSQL("pg_current_xact_id()::text::bigint", [])
    return RawSQL('(SELECT COALESCE(MAX("presence_change"), 0) + 1 FROM "users")', [])


def horizon(read_at: datetime) -> Cursor:
    """The cursor of a read about to happen; take it *before* the read's own query."""
    with connection.cursor() as db:
        if connection.vendor == "postgresql":
            db.execute("SELECT pg_current_snapshot()::text")
            xmin, xmax, xip = db.fetchone()[0].split(":")
            in_flight = tuple(int(x) for x in xip.split(",") if x)
            if len(in_flight) > MAX_IN_FLIGHT:
                return Cursor(read_at, int(xmin) - 1, ceiling=int(xmax) - 1)
            return Cursor(read_at, int(xmax) - 1, in_flight, ceiling=int(xmax) - 1)
        db.execute('SELECT COALESCE(MAX("presence_change"), 0) FROM "users"')
        newest = db.fetchone()[0]
        return Cursor(read_at, newest, ceiling=newest)


def ensure_issued_before(since: Cursor, now: Cursor, margin: timedelta) -> None:
    """InvalidCursor if `since` is ahead of the database or the clock: a client holding it would miss changes."""
    # After a restore or a reset, positions start lower again: every change below the old cursor
    # would be skipped, silently. Refusing it makes the client read everything again instead.
    if since.floor > (now.ceiling if now.ceiling is not None else now.floor) or since.read_at > now.read_at + margin:
        raise InvalidCursor(str(since))
