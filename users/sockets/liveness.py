"""The sessions a process's sockets keep alive: each touched every PRESENCE_TOUCH_SECONDS, the touches spread
over the cycles, and each lapsed once its last socket has been gone for PRESENCE_DISCONNECT_GRACE_SECONDS.
"""

from collections import deque
from collections.abc import Container
from datetime import datetime, timedelta

from django.conf import settings

from users.presence import clock
from users.presence.socket_writes import lapse_disconnected_session


def _interval() -> timedelta:
    return timedelta(seconds=settings.PRESENCE_TOUCH_SECONDS)


class Liveness:
    """When each held session is touched next, and which sessions lost their last socket (event loop)."""

    def __init__(self):
        # Sessions in the order their touch falls due: each was last touched when its socket was let
        # in or at its last touch, so a cycle touches about a touch interval's share of them. Touching
        # all 10k at once held their rows for a second and delayed that cycle's pushes by as much.
        self.due: deque[tuple[datetime, str]] = deque()
        self.next_touch: dict[str, datetime] = {}
        self.closed: dict[str, tuple[int, datetime]] = {}  # sid -> (user id, when its last socket closed)

    def resumed(self, sid: str) -> None:
        """A socket of the session arrived: a lapse it was waiting for is off."""
        self.closed.pop(sid, None)

    def held(self, sid: str) -> None:
        """A socket of this process holds the session, which its admission has just counted alive."""
        self.closed.pop(sid, None)
        if sid not in self.next_touch:
            self._schedule(sid, clock.now() + _interval())

    def released(self, sid: str, user_id: int) -> None:
        """The session's last socket here closed: it lapses after the grace unless one comes back."""
        self.next_touch.pop(sid, None)
        self.closed[sid] = (user_id, clock.now())

    def touches(self, held: Container[str]) -> list[str]:
        """The held sessions whose touch is due now; each is due again a touch interval later."""
        now, sids = clock.now(), []
        while self.due and self.due[0][0] <= now:
            at, sid = self.due.popleft()
            if self.next_touch.get(sid) == at and sid in held:
                sids.append(sid)
        for sid in sids:
            self._schedule(sid, now + _interval())
        return sids

    def retry(self, sids: list[str]) -> None:
        """Touches that failed (the database was away): due again at once."""
        now = clock.now()
        for sid in sids:
            if sid in self.next_touch:
                self._schedule(sid, now, first=True)

    def forget_lapsed(self, lapsed: dict[str, tuple[int, datetime]]) -> None:
        """Sessions a cycle lapsed (or found ended) are no longer waited on, unless a socket came back since."""
        for sid, closed in lapsed.items():
            if self.closed.get(sid) == closed:
                del self.closed[sid]

    def _schedule(self, sid: str, at: datetime, *, first: bool = False) -> None:
        self.next_touch[sid] = at
        (self.due.appendleft if first else self.due.append)((at, sid))


def lapse_due(closed: dict[str, tuple[int, datetime]], ended: set[str], at: datetime) -> dict:
    """Lapse the sessions whose grace is over (hub thread); returns those it is done with, ended ones included."""
    grace = timedelta(seconds=settings.PRESENCE_DISCONNECT_GRACE_SECONDS)
    done = {}
    for sid, (user_id, closed_at) in closed.items():
        if closed_at + grace <= at:
            if sid not in ended:
                lapse_disconnected_session(user_id, sid, closed_at)
            done[sid] = (user_id, closed_at)
    return done
