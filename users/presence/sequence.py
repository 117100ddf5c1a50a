"""The presence change sequence: a position for every visible change, the reader's horizon, and the feed cursor.

Positions are never compared with a wall clock. On PostgreSQL a change's position is the id of the
transaction that wrote it. A reader records the snapshot it read under: every id below `xmax` that
is not in the in-flight list had committed. A change that reader could not see was made by an
in-flight transaction or by one that began later (id >= xmax), so the next read asks for exactly
those: a change committed late is never skipped, however long its transaction stayed open.
On SQLite writers run one at a time, so the horizon is simply the highest stored position.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Case, F, Q, When
from django.db.models.expressions import RawSQL

from users.presence import sql
from users.presence.rules import HIDDEN, PUBLIC_FIELDS, STAFF_FIELDS, row_columns, unchanged_for_readers

# A horizon with more transactions in flight than this keeps only its floor (xmin - 1): every
# change since the oldest of them is sent again, which is correct, just larger.
MAX_IN_FLIGHT = 64
# `<read_at in microseconds>.<floor>.<in-flight positions, dash-separated>`; the schema documents it too.
CURSOR_PATTERN = r"^(\d{1,20})\.(\d{1,20})\.((?:\d{1,20}(?:-\d{1,20}){0,63})?)$"
_CURSOR = re.compile(CURSOR_PATTERN)
# Positions are bigint columns: a larger number was never issued, and no query may carry it.
MAX_POSITION = 2**63 - 1


class InvalidCursor(ValueError):
    """The `since` value is not a cursor this server issued, or not one it can still honour."""


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
        positions = tuple(int(x) for x in in_flight.split("-")) if in_flight else ()
        if max((int(floor), *positions)) > MAX_POSITION:
            raise InvalidCursor(text)
        try:
            read_at = datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC)
        except (OverflowError, ValueError, OSError):  # past the last year a datetime can hold
            raise InvalidCursor(text) from None
        return cls(read_at, int(floor), positions)

    @classmethod
    def earliest(cls, cursors: Iterable["Cursor"]) -> "Cursor":
        """A cursor behind each of `cursors`: whatever one of them has not seen, it has not seen either."""
        # A position new to some cursor is above its floor (so above the lowest floor) or in its
        # in-flight list: those at or below the lowest floor are kept as in flight.
        cursors = list(cursors)
        floor = min(c.floor for c in cursors)
        in_flight = sorted({p for c in cursors for p in c.in_flight if p <= floor})
        if len(in_flight) > MAX_IN_FLIGHT:
            floor, in_flight = in_flight[0] - 1, []
        return cls(min(c.read_at for c in cursors), floor, tuple(in_flight))

    def changed_since(self, column: str) -> Q:
        """Rows whose `column` position is one this cursor had not seen."""
        condition = Q(**{f"{column}__gt": self.floor})
        if self.in_flight:
            condition |= Q(**{f"{column}__in": self.in_flight})
        return condition


def change_position() -> RawSQL:
    """The position of the change being written, for an UPDATE's SET clause (an INSERT gets it from NewRowPosition)."""
    return RawSQL(sql.PG_CHANGE_POSITION if connection.vendor == "postgresql" else sql.SQLITE_NEXT_POSITION, [])


def new_positions(new: dict, at: datetime, *, always: bool = False) -> dict:
    """SET clauses giving the row a new place in the sequence, unless no reader can tell the write happened."""
    # Staff see every change (presence_change); everyone else only changes of users who are not
    # invisible (visible_change). sql.new_positions_sql() is the same rule as SQL text.
    position = change_position()
    if always:
        return {"presence_change": position, "visible_change": position}
    unchanged = unchanged_for_readers(row_columns(), new, at)
    return {
        "presence_change": Case(When(unchanged, then=F("presence_change")), default=position),
        "visible_change": Case(When(unchanged | HIDDEN, then=F("visible_change")), default=position),
    }


def account_positions(columns: Iterable[str]) -> dict[str, RawSQL]:
    """SET clauses giving the row a new position for the viewers who can see one of the edited `columns`."""
    # A password or a superuser flag is in no feed entry: changing them moves nothing.
    columns = set(columns)
    position = change_position()
    if columns & set(PUBLIC_FIELDS):
        return {"presence_change": position, "visible_change": position}
    if columns & set(STAFF_FIELDS):
        return {"presence_change": position}
    return {}


def horizon(read_at: datetime) -> Cursor:
    """The cursor of a read about to happen; take it *before* the read's own query."""
    if connection.vendor == "postgresql":
        xmin, xmax, in_flight = sql.current_snapshot()
        if len(in_flight) > MAX_IN_FLIGHT:
            return Cursor(read_at, xmin - 1, ceiling=xmax - 1)
        return Cursor(read_at, xmax - 1, in_flight, ceiling=xmax - 1)
    newest = sql.newest_position()
    return Cursor(read_at, newest, ceiling=newest)


def ensure_issued_before(since: Cursor, now: Cursor, margin: timedelta) -> None:
    """InvalidCursor if `since` is ahead of the database or the clock: a client holding it would miss changes."""
    # After a restore or a reset, positions start lower again: every change below the old cursor
    # would be skipped, silently. Refusing it makes the client read everything again instead.
    if since.floor > (now.ceiling if now.ceiling is not None else now.floor) or since.read_at > now.read_at + margin:
        raise InvalidCursor(str(since))
