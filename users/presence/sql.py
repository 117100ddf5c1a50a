"""Every hand-written SQL statement and fragment of presence, and the small functions that run them."""

from datetime import datetime

from django.core.exceptions import EmptyResultSet
from django.db import connection, connections
from django.db.models import CharField, Func
from django.db.models.sql import UpdateQuery

from users.presence import clock
from users.presence.rules import (
    ACTIVE,
    AWAY,
    HIDDEN_SQL,
    ONLINE,
    OPEN_SQL,
    ROW_SQL,
    SETTLED_ONLINE_SQL,
    SETTLED_PRESENT_SQL,
    SQL_PARAMS,
    derived_status_sql,
    unchanged_for_readers_sql,
)

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


# --- The writes, precompiled (PostgreSQL) ---------------------------------------------------------
# Every write that can change a status runs as text built once, at import, from the rules' SQL forms:
# only its parameters change per call. Building and compiling the same writes as Django expressions
# cost ~25 ms of Python per status change (docs/BENCHMARKS.md, section 9); SQLite, the embedded
# default, keeps those (users/presence/*_writes.py), and the tests pin both to the same outcome.
def precompiled() -> bool:
    """Whether the writes run the statements below (PostgreSQL) or their ORM forms (SQLite)."""
    return connection.vendor == "postgresql"


def new_positions_sql(new: dict) -> str:
    """sequence.new_positions() as SET clauses of an UPDATE of `users`, `new` being the row's columns after it."""
    unchanged = unchanged_for_readers_sql(ROW_SQL, new)
    return (
        f"presence_change = CASE WHEN {unchanged} THEN users.presence_change ELSE {PG_CHANGE_POSITION} END,"
        f" visible_change = CASE WHEN {unchanged} OR {HIDDEN_SQL} THEN users.visible_change"
        f" ELSE {PG_CHANGE_POSITION} END"
    )


# user_writes.online_now(): online as of %(at)s, times raised (GREATEST skips a NULL, as raised() does).
ONLINE_NOW_SET = (
    new_positions_sql({"status": "%(online)s", "last_seen": "%(at)s", "last_active": "%(at)s"})
    + ", online_status = %(online)s, last_seen = GREATEST(users.last_seen, %(at)s),"
    " last_active = GREATEST(users.last_active, %(at)s)"
)
# user_writes.offline_now(): offline, last seen at %(at)s.
OFFLINE_NOW_SET = (
    new_positions_sql({"status": "%(offline)s", "last_seen": "%(at)s", "last_active": "NULL::timestamptz"})
    + ", online_status = %(offline)s, last_seen = %(at)s, last_active = NULL"
)
USER_ONLINE = f"UPDATE users SET {ONLINE_NOW_SET} WHERE users.id = %(user_id)s AND users.is_active"
USER_OFFLINE = f"UPDATE users SET {OFFLINE_NOW_SET} WHERE users.id = %(user_id)s"

# user_writes.touch_user(): last_seen (and, for an active session's activity, last_active) refreshed unless
# fresher than %(touched)s; only a row no other transaction holds (user_writes.unlocked()).
_TOUCHED_ACTIVE = {
    "status": "users.online_status",
    "last_seen": "%(at)s",
    "last_active": "GREATEST(users.last_active, %(at)s)",
}
_TOUCHED_IDLE = {**_TOUCHED_ACTIVE, "last_active": "users.last_active"}
_STALE_UNLOCKED = """users.id IN (
    SELECT id FROM users WHERE id = %(user_id)s AND (last_seen IS NULL OR last_seen < %(touched)s)
    FOR UPDATE SKIP LOCKED
)"""
USER_TOUCH = {
    active: f"UPDATE users SET {new_positions_sql(side)}, last_seen = %(at)s, last_active = {side['last_active']}"
    f" WHERE {_STALE_UNLOCKED}"
    for active, side in ((True, _TOUCHED_ACTIVE), (False, _TOUCHED_IDLE))
}

# The user's status, last_seen and last_active derived from their open sessions (user_writes.recompute_user()):
# online with a fresh active session, away with any fresh one; with none, offline and last seen now.
# Its own statement, run after the user row is locked: under READ COMMITTED it then reads the sessions
# as of after every writer that held the row committed (a CTE of the locking statement would read
# them as of before the wait, and write back an older picture of another device's heartbeat).
RECOMPUTE_USER = f"""
WITH sessions AS (
    SELECT max(last_seen) AS seen, max(last_seen) FILTER (WHERE state = %(active)s) AS active
    FROM presence_sessions WHERE user_id = %(user_id)s AND {OPEN_SQL}
), derived AS (
    SELECT {derived_status_sql("seen", "active")} AS status, seen, active FROM sessions
), fresh AS (
    SELECT status, CASE WHEN status = %(offline)s THEN %(at)s ELSE seen END AS last_seen, active AS last_active
    FROM derived
)
UPDATE users
SET {new_positions_sql({"status": "fresh.status", "last_seen": "fresh.last_seen", "last_active": "fresh.last_active"})},
    online_status = fresh.status, last_seen = fresh.last_seen, last_active = fresh.last_active
FROM fresh WHERE users.id = %(user_id)s
RETURNING users.id, users.online_status, users.last_seen, users.last_active
"""

# A heartbeat's session write: the open session refreshed in %(state)s. A session with no row (deleted
# after retention) is opened again; a row a logout left behind stays ended, so the insert does
# nothing and nothing matches. `ended_at IS NULL` is re-checked under the row lock: a logout that
# commits first makes this match nothing (401); one that commits after ends the session anyway.
_SESSION_BEAT = f"""
refreshed AS (
    UPDATE presence_sessions SET last_seen = %(at)s, state = %(state)s
    WHERE sid = %(sid)s AND user_id = %(user_id)s AND {OPEN_SQL}
    RETURNING user_id
), reopened AS (
    INSERT INTO presence_sessions (sid, user_id, device_id, state, started_at, last_seen, ended_at, end_reason)
    SELECT %(sid)s, %(user_id)s, '', %(state)s, %(at)s, %(at)s, NULL, '' WHERE NOT EXISTS (SELECT FROM refreshed)
    ON CONFLICT (sid) DO NOTHING
    RETURNING user_id
), session AS (
    SELECT user_id FROM refreshed UNION ALL SELECT user_id FROM reopened
)"""

# An active heartbeat, in one statement: the session refreshed, then the user online as of %(at)s. For a
# user settled online that raises the times and moves no change position (rules.unchanged_for_readers);
# a user coming back gets a new one. The user row is written while the session row is still locked, so
# a logout waiting on the session ends it after this write, and one that committed first leaves no
# session to match: a heartbeat never undoes a logout. Raising to *now* commutes with any other
# writer, so it needs no recompute from the sessions.
ACTIVE_HEARTBEAT = f"""
WITH {_SESSION_BEAT}, person AS (
    UPDATE users SET {ONLINE_NOW_SET}
    FROM session WHERE users.id = session.user_id AND users.is_active
    RETURNING users.last_seen, users.last_active
)
SELECT (SELECT count(*) FROM session), (SELECT last_seen FROM person), (SELECT last_active FROM person)
"""

# A heartbeat that may lower the user's columns (going idle): the session refreshed, then the user row
# locked (FOR UPDATE sits above the join, so after the session's lock: the lock order of every presence
# write). RECOMPUTE_USER follows in the same transaction.
IDLE_HEARTBEAT_LOCKING_USER = f"""
WITH {_SESSION_BEAT}
SELECT users.id FROM users WHERE users.id IN (SELECT user_id FROM session) FOR UPDATE OF users
"""

# A login: its session opened, then the user online, while an active user (else the caller rolls back).
SESSION_START = f"""
WITH session AS (
    INSERT INTO presence_sessions (sid, user_id, device_id, state, started_at, last_seen, ended_at, end_reason)
    VALUES (%(sid)s, %(user_id)s, %(device_id)s, %(active)s, %(at)s, %(at)s, NULL, '')
    RETURNING user_id
), person AS (
    UPDATE users SET {ONLINE_NOW_SET}
    FROM session WHERE users.id = session.user_id AND users.is_active
    RETURNING users.id
)
SELECT count(*) FROM person
"""

# A logout of one device: its session ended (a session with no row yet gets an ended one, so a heartbeat
# racing this logout cannot open it), then the user row locked. The lock's WHERE reads both session
# writes, so they run, and lock, first. RECOMPUTE_USER follows in the same transaction.
SESSION_END_LOCKING_USER = f"""
WITH ended AS (
    UPDATE presence_sessions SET ended_at = %(at)s, end_reason = %(reason)s
    WHERE sid = %(sid)s AND user_id = %(user_id)s AND {OPEN_SQL}
    RETURNING sid
), left_ended AS (
    INSERT INTO presence_sessions (sid, user_id, device_id, state, started_at, last_seen, ended_at, end_reason)
    SELECT %(sid)s, %(user_id)s, '', %(active)s, %(at)s, %(at)s, %(at)s, %(reason)s WHERE NOT EXISTS (SELECT FROM ended)
    ON CONFLICT (sid) DO NOTHING
    RETURNING sid
)
SELECT users.id FROM users
WHERE users.id = %(user_id)s AND (SELECT count(*) FROM ended) + (SELECT count(*) FROM left_ended) >= 0
FOR UPDATE OF users
"""

# A lapse (socket_writes.lapse_disconnected_session()): the session set past the timeout if nothing of it
# came since its socket closed (last_seen <= %(closed_at)s), then the user row locked. RECOMPUTE_USER
# follows in the same transaction, if it lapsed.
SESSION_LAPSE_LOCKING_USER = f"""
WITH lapsed AS (
    UPDATE presence_sessions SET last_seen = %(lapsed_to)s
    WHERE sid = %(sid)s AND user_id = %(user_id)s AND {OPEN_SQL} AND last_seen <= %(closed_at)s
    RETURNING user_id
)
SELECT users.id FROM users WHERE users.id IN (SELECT user_id FROM lapsed) FOR UPDATE OF users
"""

# Logout everywhere (or deactivation), in one statement: every open session locked in sid order (so two
# of these for the same user queue instead of deadlocking) and ended, then the user offline. The user's
# WHERE reads the ended sessions, so their locks come first; offline needs no recompute.
SESSIONS_END_ALL = f"""
WITH locked AS (
    SELECT sid FROM presence_sessions WHERE user_id = %(user_id)s AND {OPEN_SQL} ORDER BY sid FOR UPDATE
), ended AS (
    UPDATE presence_sessions SET ended_at = %(at)s, end_reason = %(reason)s
    FROM locked WHERE presence_sessions.sid = locked.sid AND {OPEN_SQL}
    RETURNING presence_sessions.sid
), person AS (
    UPDATE users SET {OFFLINE_NOW_SET}
    WHERE users.id = %(user_id)s AND (SELECT count(*) FROM ended) >= 0
    RETURNING users.id
)
SELECT (SELECT count(*) FROM ended), (SELECT count(*) FROM person)
"""


def params(at: datetime, **values) -> dict:
    """The parameters of a statement above, run at `at`: the constants and cutoffs it may name, and `values`."""
    return {**SQL_PARAMS, "at": at, "cutoff": clock.offline_cutoff(at), "settled": clock.settled_cutoff(at), **values}


def run(statement: str, at: datetime, **values) -> list[tuple]:
    """Run a statement above at `at`; returns its rows."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params(at, **values))
        return cursor.fetchall()


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


def json_entries(rows, keys: dict[str, str]) -> list[tuple[int, str]]:
    """PostgreSQL: the rows of a values_list() queryset as (id, a JSON object of `keys` -> their columns), by id."""
    # row_to_json writes compact JSON (json_build_object puts spaces around every colon).
    try:
        inner, params = rows.query.sql_with_params()
    except EmptyResultSet:
        return []
    quote = connection.ops.quote_name
    columns = ", ".join(f"e.{quote(column)} AS {quote(key)}" for key, column in keys.items())
    query = f"SELECT e.{quote('id')}, (SELECT row_to_json(x)::text FROM (SELECT {columns}) AS x) FROM ({inner}) AS e ORDER BY 1"
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()
