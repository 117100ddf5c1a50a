"""Every hand-written SQL statement and fragment of presence, and the small functions that run them."""

from datetime import datetime

from django.db import connection, connections
from django.db.models import CharField, Func
from django.db.models.sql import UpdateQuery

from users.presence.rules import ACTIVE, AWAY, ONLINE, SETTLED_ONLINE_SQL, SETTLED_PRESENT_SQL

# --- Change positions (presence/sequence.py) ------------------------------------------------------
# PostgreSQL: the id of the writing transaction, a 64-bit counter that never wraps.
PG_CHANGE_POSITION = "pg_current_xact_id()::text::bigint"
PG_SNAPSHOT = "SELECT pg_current_snapshot()::text"
# SQLite runs one writer at a time (BEGIN IMMEDIATE), so one above the highest is in commit order.
SQLITE_NEWEST_POSITION = 'SELECT COALESCE(MAX("presence_change"), 0) FROM "users"'
SQLITE_NEXT_POSITION = f"(({SQLITE_NEWEST_POSITION}) + 1)"


def current_snapshot() -> tuple[int, int, tuple[int, ...]]:
    """PostgreSQL: (xmin, xmax, in-flight ids) of the snapshot the next statement reads under."""
    with connection.cursor() as db:
        db.execute(PG_SNAPSHOT)
        xmin, xmax, xip = db.fetchone()[0].split(":")
    return int(xmin), int(xmax), tuple(int(x) for x in xip.split(",") if x)


def newest_position() -> int:
    """SQLite: the highest change position stored."""
    with connection.cursor() as db:
        db.execute(SQLITE_NEWEST_POSITION)
        return db.fetchone()[0]


# --- The usual heartbeat, in one statement (PostgreSQL) -------------------------------------------
# The session refreshed, and the user raised only if that session is open and the user settled
# online (rules.settled_online), so no reader can tell and no change position is needed. One round
# trip instead of a transaction of three plus the ORM compiling two UPDATEs, which made a heartbeat
# cost more than half again what GET /me/ does (docs/BENCHMARKS.md). The data-modifying CTEs run in
# one snapshot and lock the session row before the user row (the lock order of every presence write).
SETTLED_HEARTBEAT = f"""
WITH session AS (
    UPDATE presence_sessions SET last_seen = %(at)s, state = %(active)s
    WHERE sid = %(sid)s AND user_id = %(user_id)s AND ended_at IS NULL
    RETURNING user_id
), person AS (
    UPDATE users
    SET last_seen = GREATEST(users.last_seen, %(at)s), last_active = GREATEST(COALESCE(users.last_active, %(at)s), %(at)s)
    FROM session
    WHERE users.id = session.user_id AND users.is_active AND {SETTLED_ONLINE_SQL}
    RETURNING users.id
)
SELECT (SELECT count(*) FROM session), (SELECT count(*) FROM person)
"""


def settled_heartbeat(user_id: int, sid: str, at: datetime, settled: datetime) -> tuple[bool, bool]:
    """Run SETTLED_HEARTBEAT: (whether the open session was refreshed, whether the user was raised)."""
    params = {"at": at, "sid": sid, "user_id": user_id, "active": ACTIVE, "online": ONLINE, "settled": settled}
    with connection.cursor() as cursor:
        cursor.execute(SETTLED_HEARTBEAT, params)
        session_refreshed, user_raised = cursor.fetchone()
    return bool(session_refreshed), bool(user_raised)


# --- The live sockets' touch, in one statement per server process (PostgreSQL) --------------------
# Every open session that holds a socket here gets last_seen = now, and each of their users is raised
# the way their heartbeat would raise them (last_active too if one of the sessions is active), but
# only where no reader can tell (settled), so no change position is needed. Rows another transaction
# holds are skipped (a best-effort write never waits), and those users come back in the next touch.
# The rows returned are the users it could lock but not raise, settled in Python by the general path
# (a user just coming back; rare while a socket keeps them fresh).
LIVE_SESSIONS_TOUCH = f"""
WITH locked AS (
    SELECT sid FROM presence_sessions
    WHERE sid = ANY(%(sids)s) AND ended_at IS NULL
    FOR UPDATE SKIP LOCKED
), session AS (
    UPDATE presence_sessions SET last_seen = GREATEST(presence_sessions.last_seen, %(at)s)
    FROM locked WHERE presence_sessions.sid = locked.sid
    RETURNING presence_sessions.user_id, presence_sessions.sid, presence_sessions.state
), touched AS (
    SELECT user_id, bool_or(state = %(active)s) AS active FROM session GROUP BY user_id
), lockable AS (
    SELECT users.id FROM users WHERE users.id IN (SELECT user_id FROM touched) FOR UPDATE SKIP LOCKED
), person AS (
    UPDATE users
    SET last_seen = GREATEST(users.last_seen, %(at)s),
        last_active = CASE WHEN touched.active
            THEN GREATEST(COALESCE(users.last_active, %(at)s), %(at)s) ELSE users.last_active END
    FROM touched
    WHERE users.id = touched.user_id AND users.is_active AND users.id IN (SELECT id FROM lockable)
      AND ((touched.active AND {SETTLED_ONLINE_SQL}) OR (NOT touched.active AND {SETTLED_PRESENT_SQL}))
    RETURNING users.id
)
SELECT session.user_id, session.sid, session.state FROM session
WHERE session.user_id IN (SELECT id FROM lockable) AND session.user_id NOT IN (SELECT id FROM person)
"""


def live_sessions_touch(sids: list[str], at: datetime, settled: datetime) -> list[tuple[int, str, str]]:
    """Run LIVE_SESSIONS_TOUCH: the (user id, sid, state) of touched sessions whose user still needs a write."""
    params = {"sids": sids, "at": at, "active": ACTIVE, "online": ONLINE, "away": AWAY, "settled": settled}
    with connection.cursor() as cursor:
        cursor.execute(LIVE_SESSIONS_TOUCH, params)
        return [tuple(row) for row in cursor.fetchall()]


# --- UPDATE … RETURNING ---------------------------------------------------------------------------
def update_returning(queryset, **values) -> list[tuple[int, str]]:
    """queryset.update(**values) as the very same single statement, returning each changed row's id and new status."""
    # The rows feed one log line per status transition; reading them first would take a second
    # statement and reopen the race that the single UPDATE closes.
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    sql, params = query.get_compiler(queryset.db).as_sql()
    if not sql:
        return []
    quote = connections[queryset.db].ops.quote_name
    table = quote(queryset.model._meta.db_table)
    returning = f" RETURNING {table}.{quote(queryset.model._meta.pk.column)}, {table}.{quote('online_status')}"
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql + returning, params)
        return [(row[0], row[1]) for row in cursor.fetchall()]


# --- Reads ----------------------------------------------------------------------------------------
class IsoTimestamp(Func):
    """PostgreSQL: a timestamptz as the API writes it, ISO 8601 in UTC with `Z`, microseconds only when non-zero."""

    # Django's per-row Python timestamptz loader cost more than the all-users query itself.
    template = (
        "CASE WHEN date_trunc('second', %(expressions)s) = %(expressions)s"
        " THEN to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " ELSE to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END"
    )
    output_field = CharField()


# --- Sockets authenticated together, in one statement per hub cycle (PostgreSQL) -----------------
# Each (sid, user id) of a cycle's auth messages: the user must be active and the session neither
# revoked nor ended (the checks a request's authentication and heartbeat make); an open session is
# refreshed as an active heartbeat and its user raised where settled online, so no reader can tell.
# Rows another transaction holds are skipped, never waited for: those sockets, and sessions with no
# open row, take the one-socket path (users/auth/logins.connect_socket), which decides exactly.
SOCKETS_ADMIT = f"""
WITH asked AS (
    SELECT * FROM unnest(%(sids)s::text[], %(user_ids)s::bigint[]) AS asked(sid, user_id)
), allowed AS (
    SELECT asked.sid, users.id AS user_id, users.username, users.is_staff FROM asked
    JOIN users ON users.id = asked.user_id AND users.is_active
    WHERE NOT EXISTS (SELECT 1 FROM revoked_sessions WHERE revoked_sessions.sid = asked.sid)
), locked AS (
    SELECT presence_sessions.sid FROM presence_sessions JOIN allowed ON allowed.sid = presence_sessions.sid
    WHERE presence_sessions.user_id = allowed.user_id AND presence_sessions.ended_at IS NULL
    ORDER BY presence_sessions.sid
    FOR UPDATE OF presence_sessions SKIP LOCKED
), session AS (
    UPDATE presence_sessions SET last_seen = GREATEST(presence_sessions.last_seen, %(at)s), state = %(active)s
    FROM locked WHERE presence_sessions.sid = locked.sid
    RETURNING presence_sessions.sid, presence_sessions.user_id
), lockable AS (
    SELECT users.id FROM users WHERE users.id IN (SELECT user_id FROM session)
    ORDER BY users.id FOR UPDATE SKIP LOCKED
), person AS (
    UPDATE users
    SET last_seen = GREATEST(users.last_seen, %(at)s), last_active = GREATEST(COALESCE(users.last_active, %(at)s), %(at)s)
    FROM lockable WHERE users.id = lockable.id AND {SETTLED_ONLINE_SQL}
    RETURNING users.id
)
SELECT allowed.sid, allowed.user_id, allowed.username, allowed.is_staff,
       allowed.sid IN (SELECT sid FROM session), allowed.user_id IN (SELECT id FROM person)
FROM allowed
"""


def sockets_admit(asked: list[tuple[str, int]], at: datetime, settled: datetime) -> list[tuple]:
    """Run SOCKETS_ADMIT: (sid, user id, username, is_staff, session refreshed, user raised) of each allowed socket."""
    params = {
        "sids": [sid for sid, _ in asked],
        "user_ids": [user_id for _, user_id in asked],
        "at": at,
        "active": ACTIVE,
        "online": ONLINE,
        "settled": settled,
    }
    with connection.cursor() as cursor:
        cursor.execute(SOCKETS_ADMIT, params)
        return [tuple(row) for row in cursor.fetchall()]
