"""SQL pieces shared by the presence writes: change positions, the SET clauses of "seen active now", UPDATE … RETURNING."""
from datetime import datetime

from django.db import connections
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.db.models.sql import UpdateQuery

from users.models import User
from users.services.presence_cursor import change_position
from users.services.presence_status import row_columns, unchanged_for_readers

ONLINE = User.OnlineStatus.ONLINE
AWAY = User.OnlineStatus.AWAY
OFFLINE = User.OnlineStatus.OFFLINE


def moment(at: datetime | None) -> Value:
    """A timestamp as an SQL value, for expressions that compare it with columns."""
    return Value(at, output_field=DateTimeField())


def positions(new: dict, at: datetime, *, always: bool = False) -> dict:
    """SET clauses giving the row a new place in the change sequence, unless no reader can tell the difference.

    Staff see every change; everyone else only changes of users who are not invisible.
    """
    position = change_position()
    if always:
        return {"presence_change": position, "visible_change": position}
    unchanged = unchanged_for_readers(row_columns(), new, at)
    return {
        "presence_change": Case(When(unchanged, then=F("presence_change")), default=position),
        "visible_change": Case(
            When(unchanged | Q(invisible_since__isnull=False), then=F("visible_change")), default=position
        ),
    }


def online_now(at: datetime) -> dict:
    """SET clauses for a user who has just been seen active: online as of `at`."""
    new = {"status": Value(ONLINE), "last_seen": moment(at), "last_active": moment(at)}
    # Never backwards: two devices' heartbeats may commit in the other order than they read the clock.
    return {
        **positions(new, at),
        "online_status": ONLINE,
        "last_seen": Greatest(Coalesce(F("last_seen"), moment(at)), moment(at)),
        "last_active": Greatest(Coalesce(F("last_active"), moment(at)), moment(at)),
    }


def offline_now(at: datetime) -> dict:
    """SET clauses for a user who has just left: offline, last seen at `at`."""
    new = {"status": Value(OFFLINE), "last_seen": moment(at), "last_active": moment(None)}
    return {**positions(new, at), "online_status": OFFLINE, "last_seen": at, "last_active": None}


def update_returning(queryset, **values) -> list[tuple[int, str]]:
    """queryset.update(**values) as the very same single statement, plus RETURNING each changed row's id and new status.

    The rows feed one log line per status transition; reading them first would be a second
    statement and reopen the race the single UPDATE closes.
    """
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    sql, params = query.get_compiler(queryset.db).as_sql()
    if not sql:
        return []
    connection = connections[queryset.db]
    quote = connection.ops.quote_name
    table = quote(User._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {table}.{quote(User._meta.pk.column)}, {table}.{quote('online_status')}", params)
        return [(row[0], row[1]) for row in cursor.fetchall()]
