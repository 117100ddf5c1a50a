"""Every write to presence, in one public entry point: the user row, the sessions (one per device or tab), the sweep.

Each write is one or a few conditional, set-based statements in one transaction; none reads a value
into Python to write it back, so concurrent writers never lose one. Lock order is always sessions
first, then the user row, so two writers never wait on each other in a cycle; the sweep never waits
at all (SKIP LOCKED). The statements live in modules by concern:
- user_presence.py: writes to the user row alone (online, offline, the activity touch, invisible mode);
- session_presence.py: per-session writes (login, heartbeat, touch, logout, logout everywhere);
- presence_sweep.py: the sweep; presence_sql.py: the SQL pieces they share.
Callers import from here, so "who writes presence" stays one grep.
"""
from users.services.presence_sweep import check_and_mark_offline_users
from users.services.session_presence import (
    end_all_presence_sessions,
    end_presence_session,
    refresh_presence_session,
    start_presence_session,
    touch_presence,
    touch_presence_session,
)
from users.services.user_presence import (
    mark_user_offline,
    mark_user_online,
    mark_users_offline,
    set_user_invisible,
    update_user_last_seen,
)

__all__ = [
    "check_and_mark_offline_users",
    "end_all_presence_sessions",
    "end_presence_session",
    "mark_user_offline",
    "mark_user_online",
    "mark_users_offline",
    "refresh_presence_session",
    "set_user_invisible",
    "start_presence_session",
    "touch_presence",
    "touch_presence_session",
    "update_user_last_seen",
]
