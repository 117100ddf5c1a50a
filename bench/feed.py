"""The incremental presence feed: one poll after `feed_changes` presence changes against the full list, as staff."""

import json
import random
import uuid

from django.db import connection

from bench import database
from bench.scenarios import latency, ratio, staff_client, timed_gets
from users.models import PresenceSession, User
from users.presence import clock as presence_clock
from users.presence.selectors import presence_changes
from users.presence.sequence import Cursor
from users.presence.session_writes import end_presence_session, refresh_presence_session, start_presence_session

FULL_LIST = "/api/users/all-users/"
FEED = "/api/users/presence/"
ME = "/api/users/me/"  # the authenticated read with no list at all: the floor under any poll
IDLE = PresenceSession.State.IDLE
# The changes after the cursor, as shares of feed_changes, and the status the feed must then show.
# Logouts and idle heartbeats hit users who logged in before the cursor; logins and heartbeats hit
# offline users (a heartbeat with no session row is a device back after the sweep deleted its session).
KINDS = {"login": (0.3, "online"), "heartbeat": (0.25, "online"), "logout": (0.25, "offline"), "idle": (0.2, "away")}
# Rows a poll may carry beyond the changed users: none is expected (positions are this database's own
# transaction ids, and the frozen clock opens no timeout window over the seeded users), a few are tolerated.
EXTRA_ALLOWED = 10


def _pick(count: int, changes: int) -> dict[str, list[int]]:
    """Users for each kind, spread over the table: offline ones for logins and heartbeats, fresh online ones otherwise."""
    per_kind = {kind: round(share * changes) for kind, (share, _) in KINDS.items()}
    per_kind["login"] += changes - sum(per_kind.values())
    ids = list(range(2, count + 1))  # user 1 is the staff viewer
    random.Random(count).shuffle(ids)  # same users every run of a size
    offline = (i for i in ids if i % database.ONLINE_EVERY)
    fresh_online = (i for i in ids if i % database.ONLINE_EVERY == 0 and i % database.STALE_EVERY)
    pools = {"login": offline, "heartbeat": offline, "logout": fresh_online, "idle": fresh_online}
    return {kind: [next(pools[kind]) for _ in range(n)] for kind, n in per_kind.items()}


def _change(client, picked: dict[str, list[int]]) -> tuple[str, dict[int, str]]:
    """Take a cursor, then make the changes through the presence services: (cursor, each changed user's new status)."""
    sessions = {}
    for user_id in picked["logout"] + picked["idle"]:  # before the cursor: these users log in
        sessions[user_id] = uuid.uuid4().hex
        assert start_presence_session(user_id, sessions[user_id])
    cursor = _take_cursor(client)
    for user_id in picked["login"]:
        assert start_presence_session(user_id, uuid.uuid4().hex)
    for user_id in picked["heartbeat"]:
        assert refresh_presence_session(user_id, uuid.uuid4().hex)
    for user_id in picked["logout"]:
        end_presence_session(user_id, sessions[user_id], reason=PresenceSession.EndReason.LOGOUT)
    for user_id in picked["idle"]:
        assert refresh_presence_session(user_id, sessions[user_id], state=IDLE)
    return cursor, {user_id: KINDS[kind][1] for kind, ids in picked.items() for user_id in ids}


def _take_cursor(client) -> str:
    """The cursor of a client's first poll: GET /api/users/presence/ without `since` (the full snapshot)."""
    response = client.get(FEED)
    assert response.status_code == 200, response.status_code
    body = json.loads(response.content)
    assert body["full"] and len(body["users"]) == User.objects.count(), (body["full"], len(body["users"]))
    return body["cursor"]


def _check_feed(response, expected: dict[int, str]) -> int:
    """Fail loudly unless the poll carries every changed user, with their new status, and little else."""
    body = json.loads(response.content)
    seen = {row["id"]: row["online_status"] for row in body["users"]}
    assert not body["full"] and len(seen) == len(body["users"]), "the poll is a full list or repeats a user"
    missing = [i for i in expected if i not in seen]
    wrong = {i: (seen[i], status) for i, status in expected.items() if i in seen and seen[i] != status}
    assert not missing and not wrong, (
        f"feed misses {len(missing)} changed users, {len(wrong)} with a wrong status: {wrong}"
    )
    assert len(seen) <= len(expected) + EXTRA_ALLOWED, f"feed carries {len(seen)} users for {len(expected)} changes"
    return len(seen)


def _explain_feed(cursor: str) -> dict:
    """EXPLAIN the SELECT presence_changes() sends for a staff viewer (captured, then explained)."""
    captured = []

    def capture(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("SELECT") and "presence_change" in sql:
            captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        presence_changes(User.objects.get(pk=1), Cursor.parse(cursor))
    plan = database.explain(*captured[-1])
    plan["uses_change_index"] = "users_presence_change_idx" in plan["plan"]
    return plan


def feed_poll(cfg) -> dict:
    """A poll of GET /api/users/presence/?since= vs GET /api/users/all-users/, same viewer, interleaved rounds."""
    seeded_at = database.seed_users(cfg.feed_users, cfg.password_hash)
    real_clock = presence_clock.now
    # The clock stops at the seeding time: online users stay fresh however long the runs take, so
    # the poll carries exactly the changes made here, not seeded users timing out meanwhile.
    presence_clock.now = lambda: seeded_at
    try:
        client = staff_client()
        picked = _pick(cfg.feed_users, cfg.feed_changes)
        cursor, expected = _change(client, picked)
        paths = {"full_list": FULL_LIST, "feed": f"{FEED}?since={cursor}", "me": ME}
        bodies, times = timed_gets(client, paths, cfg.feed_runs)
        feed_users = _check_feed(bodies["feed"], expected)
        plan = _explain_feed(cursor)
    finally:
        presence_clock.now = real_clock
    row = {
        "users": cfg.feed_users,
        "online": cfg.feed_users // database.ONLINE_EVERY,
        "changes": len(expected),
        "changes_by_kind": {kind: len(ids) for kind, ids in picked.items()},
        "feed_users": feed_users,
        "runs": cfg.feed_runs,
        **{name: latency(times[name], bodies[name]) for name in paths},
        "explain": plan,
    }
    # Four digits: the poll is a percent or less of the list, and bytes far less.
    row["ratio_feed_to_full_p50"] = ratio(row["feed"]["p50_ms"], row["full_list"]["p50_ms"], 4)
    row["ratio_feed_to_full_bytes"] = ratio(row["feed"]["bytes"], row["full_list"]["bytes"], 4)
    row["ratio_feed_to_me_p50"] = ratio(row["feed"]["p50_ms"], row["me"]["p50_ms"])
    return row
