"""The operating guide's presence entry points, each composed of the statement-level writes in users/presence/.

mark_user_online, mark_user_offline, update_user_last_seen (the middleware) and
check_and_mark_offline_users (beat), plus the admin's bulk offline and invisible mode. Logins,
heartbeats and logouts per device are in users/presence/session_writes.py.
"""

from collections.abc import Iterable
from datetime import datetime

from users.presence import clock, sweep, user_writes
from users.presence.rules import ACTIVE, OFFLINE
from users.presence.session_writes import touch_presence_session
from users.presence.transition_log import log_sweep, log_transitions


def mark_user_online(user_id: int) -> datetime | None:
    """Mark an active user online as of now; returns the time written, or None if no such active user."""
    at = clock.now()
    return at if user_writes.write_online(user_id, at) else None


def mark_user_offline(user_id: int, *, reason: str = "logout") -> datetime | None:
    """Mark a user offline as of now; returns the time written, or None if no such user."""
    at = clock.now()
    if not user_writes.write_offline(user_id, at):
        return None
    log_transitions([(user_id, OFFLINE)], reason=reason)
    return at


def mark_users_offline(user_ids: Iterable[int], *, reason: str) -> int:
    """Mark offline those of the given users who are stored online or away, in one UPDATE; returns how many changed."""
    moved = user_writes.write_many_offline(user_ids, clock.now())
    log_transitions(moved, reason=reason)
    return len(moved)


def update_user_last_seen(user_id: int, sid: str | None = None) -> datetime | None:
    """An authenticated request: refresh session `sid` and the user row, each at most once per touch interval."""
    # A request under an active session is activity like an active heartbeat, so a client that only
    # polls stays online; one under an idle session only proves the device is there. The stored
    # status never changes here.
    at = clock.now()
    active = bool(sid) and touch_presence_session(sid, at, state=ACTIVE)
    if sid and not active:
        touch_presence_session(sid, at)
    return at if user_writes.touch_user(user_id, at, active=active) else None


def set_user_invisible(user_id: int, invisible: bool) -> bool:
    """Hide or show the user's presence to everyone but staff; returns whether anything changed."""
    return user_writes.write_invisible(user_id, invisible, clock.now())


def check_and_mark_offline_users() -> int:
    """The sweep: move users whose status lapsed to away or offline, delete sessions past retention; returns users moved."""
    at = clock.now()
    moved = sweep.move_lapsed_users(at)
    deleted = sweep.delete_expired_sessions(at)
    log_sweep(moved, sessions_deleted=deleted, cutoff=clock.offline_cutoff(at))
    return len(moved)
