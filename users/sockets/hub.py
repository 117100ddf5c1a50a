"""One hub per server process: admits authenticated sockets, pushes the feed to them, keeps their sessions alive.

Each cycle (every PRESENCE_PUSH_SECONDS, or at once when a socket joins) the hub does all its
database work in one call on its own thread: it closes the sockets of sessions ended since the
last cycle, lapses sessions whose last socket closed more than the grace ago, touches the sessions
its sockets hold (every PRESENCE_TOUCH_SECONDS, one statement), reads the feed once per visibility
class (staff, everyone else) from that class's cursor, and answers the sockets that joined. Pushes
are the feed, so they inherit its guarantees: timeouts, late commits, account changes and changes
made by any process or worker all show, and none is skipped.
"""

import asyncio
import contextlib
import logging
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.db import close_old_connections, connection

from users.models import User
from users.presence import clock, selectors
from users.presence.sequence import Cursor, InvalidCursor
from users.presence.socket_writes import lapse_disconnected_session, touch_live_sessions
from users.sockets import protocol

logger = logging.getLogger(__name__)
STAFF, OTHERS = True, False
# The feed repeats an entry for at most its margin after the change: remember twice that.
REPEAT_SECONDS = 2 * clock.FEED_MARGIN.total_seconds()


@dataclass
class Work:
    """What a cycle is asked to do, copied from the event loop's state."""

    joiners: list[tuple[object, str | None]]
    reads: dict[bool, Cursor]
    closed: dict[str, tuple[int, datetime]]
    touch: list[str] | None


@dataclass
class Cycle:
    """What one cycle read: sessions to close, a push per class, and the first message of each joiner."""

    ended: set[str] = field(default_factory=set)
    pushes: dict[bool, tuple[Cursor, list[dict]]] = field(default_factory=dict)
    admitted: list[tuple[object, Cursor, bool, list[dict]]] = field(default_factory=list)
    lapsed: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    ends_checked_at: datetime | None = None


class PresenceHub:
    """The sockets of one event loop and the cursors they share."""

    def __init__(self):
        self.members: dict[bool, set] = {STAFF: set(), OTHERS: set()}
        self.cursors: dict[bool, Cursor | None] = {STAFF: None, OTHERS: None}
        self.joining: list[tuple[object, str | None]] = []
        self.by_sid: dict[str, set] = {}
        self.closed: dict[str, tuple[int, datetime]] = {}
        self.ends_checked_at = clock.now()
        self.next_touch = clock.now()
        self.cycles = 0  # cycles completed, for tests that wait for the hub
        # What each class was last sent per user, for REPEAT_SECONDS: the feed sends a timeout again
        # on every read within its margin, and a push that repeats an entry is left out.
        self.sent: dict[bool, dict[int, tuple[float, dict]]] = {STAFF: {}, OTHERS: {}}
        self.failing = False
        self.wake = asyncio.Event()
        # One thread: the cycle's statements run in order on one connection, off the event loop.
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="presence-hub")
        self.task = asyncio.get_running_loop().create_task(self.run())

    # --- Sockets come and go (event loop) ---------------------------------------------------------
    def join(self, consumer, since: str | None) -> None:
        """An authenticated socket: it gets its snapshot (or changes since `since`) in the next cycle."""
        self.by_sid.setdefault(consumer.sid, set()).add(consumer)
        self.closed.pop(consumer.sid, None)
        self.joining.append((consumer, since))
        self.wake.set()

    def leave(self, consumer) -> None:
        """A closed socket; the last one of its session starts the disconnect grace."""
        for members in self.members.values():
            members.discard(consumer)
        self.joining = [(c, since) for c, since in self.joining if c is not consumer]
        sockets = self.by_sid.get(consumer.sid)
        if sockets is None:
            return
        sockets.discard(consumer)
        if not sockets:
            del self.by_sid[consumer.sid]
            if consumer.sid not in consumer.ended_sids:
                self.closed[consumer.sid] = (consumer.user.pk, clock.now())

    # --- The cycle --------------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), settings.PRESENCE_PUSH_SECONDS)
            self.wake.clear()
            if not (self.by_sid or self.closed or self.joining):
                continue
            await self.cycle()

    async def cycle(self) -> None:
        joiners, self.joining = self.joining, []
        # The hub thread gets copies: the event loop goes on changing the originals meanwhile.
        touch = None
        if clock.now() >= self.next_touch:
            self.next_touch = clock.now() + timedelta(seconds=settings.PRESENCE_TOUCH_SECONDS)
            touch = sorted(self.by_sid)
        reads = {staff: cursor for staff, cursor in self.cursors.items() if cursor is not None and self.members[staff]}
        work = Work(joiners, reads, dict(self.closed), touch)
        try:
            done = await asyncio.get_running_loop().run_in_executor(self.executor, self._read, work)
        except Exception:
            if not self.failing:  # one line per outage, not one per cycle
                logger.exception("presence hub cycle failed; retrying every %ss", settings.PRESENCE_PUSH_SECONDS)
            self.failing = True
            if touch is not None:
                self.next_touch = clock.now()
            await self._send_all([c for c, _ in joiners], None, close=protocol.UNAVAILABLE)
            return
        if self.failing:
            logger.info("presence hub cycle recovered")
        self.failing = False
        # Only a cycle that closed what it found moves the window on: one failing after that read (a
        # database stalling mid-cycle) leaves those sessions for the next, however long the outage.
        self.ends_checked_at = done.ends_checked_at
        for sid, closed in done.lapsed.items():
            if self.closed.get(sid) == closed:
                del self.closed[sid]
        await self._apply(done)
        self.cycles += 1

    def _read(self, work: "Work") -> Cycle:
        """All of a cycle's database work (hub thread)."""
        close_old_connections()
        try:
            return self._read_cycle(work)
        except Exception:
            connection.close()  # a broken connection is not reused by the next cycle
            raise

    def _read_cycle(self, work: "Work") -> Cycle:
        done = Cycle()
        at = clock.now()
        # A logout's commit may land after its clock reading: look back by the feed's margin.
        done.ended = selectors.sessions_ended_since(self.ends_checked_at - clock.FEED_MARGIN)
        done.ends_checked_at = at
        grace = timedelta(seconds=settings.PRESENCE_DISCONNECT_GRACE_SECONDS)
        for sid, (user_id, closed_at) in work.closed.items():
            if closed_at + grace <= at:
                if sid not in done.ended:
                    lapse_disconnected_session(user_id, sid, closed_at)
                done.lapsed[sid] = (user_id, closed_at)
        if work.touch is not None:
            touch_live_sessions([sid for sid in work.touch if sid not in done.ended], at)
        for staff, cursor in work.reads.items():
            done.pushes[staff] = selectors.presence_changes(_viewer(staff), cursor)
        # One snapshot per class for all its joiners of this cycle: a reconnect storm costs a read per
        # class and cycle, not one per socket.
        snapshots: dict[bool, tuple[Cursor, list[dict]]] = {}
        for consumer, since in work.joiners:
            staff = bool(consumer.user.is_staff)
            changes = None
            if since is not None:
                with contextlib.suppress(InvalidCursor):
                    changes = selectors.presence_changes(consumer.user, Cursor.parse(since))
            if changes is None and staff not in snapshots:
                snapshots[staff] = selectors.presence_snapshot(_viewer(staff))
            cursor, users = changes or snapshots[staff]
            done.admitted.append((consumer, cursor, changes is None, users))
        return done

    async def _apply(self, done: Cycle) -> None:
        for sid in done.ended & self.by_sid.keys():
            for consumer in list(self.by_sid.get(sid, ())):
                consumer.ended_sids.add(sid)
                await consumer.close(code=protocol.NOT_AUTHENTICATED)
        for staff, (cursor, users) in done.pushes.items():
            self.cursors[staff] = cursor
            users = self._unsent(staff, users)
            if users:
                await self._send_all(list(self.members[staff]), protocol.presence(cursor, False, users))
        texts: dict[int, list[str]] = {}  # a snapshot shared by several joiners is serialised once
        for consumer, cursor, full, users in done.admitted:
            if consumer.sid not in self.by_sid or consumer not in self.by_sid[consumer.sid]:
                continue  # closed while its first read ran
            staff = bool(consumer.user.is_staff)
            if id(users) not in texts:
                texts[id(users)] = _texts(protocol.presence(cursor, full, users))
                # A user this joiner holds differently from what its class last sent (changed and changed
                # back between two reads) must not be left out of the next push as a repeat.
                held = {user["id"]: user for user in users}
                sent = self.sent[staff]
                for user_id in [i for i, (_, entry) in sent.items() if held.get(i, entry) != entry]:
                    del sent[user_id]
            await self._send_text([consumer], texts[id(users)])
            self.members[staff].add(consumer)
            # The class reads from the oldest cursor it must serve: a joiner read after it, so repeats, never misses.
            if self.cursors[staff] is None:
                self.cursors[staff] = cursor
        for staff, members in self.members.items():
            if not members:
                self.cursors[staff] = None  # nobody to read for
                self.sent[staff].clear()

    def _unsent(self, staff: bool, users: list[dict]) -> list[dict]:
        """The entries of `users` that differ from what the class was last sent; remembers them."""
        now, sent = time.monotonic(), self.sent[staff]
        fresh = [user for user in users if sent.get(user["id"], (0, None))[1] != user]
        for user in users:
            sent[user["id"]] = (now, user)
        for user_id in [i for i, (at, _) in sent.items() if now - at > REPEAT_SECONDS]:
            del sent[user_id]
        return fresh

    async def _send_all(self, consumers, messages: list[dict] | None, *, close: int | None = None) -> None:
        await self._send_text(consumers, _texts(messages) if messages else [], close=close)

    async def _send_text(self, consumers, texts: list[str], *, close: int | None = None) -> None:
        for consumer in consumers:
            try:
                for text in texts:
                    await consumer.send(text_data=text)
                if close is not None:
                    await consumer.close(code=close)
            except Exception:  # a socket that went away mid-send is the disconnect handler's business
                logger.debug("presence push to a closing socket failed", exc_info=True)

    async def stop(self) -> None:
        """Stop the cycle and close the hub thread's database connection (tests; a server just exits)."""
        self.task.cancel()
        await asyncio.get_running_loop().run_in_executor(self.executor, _close_connection)
        self.executor.shutdown(wait=False)


def _texts(messages: list[dict]) -> list[str]:
    return [orjson.dumps(message).decode() for message in messages]


def _close_connection() -> None:
    connection.close()  # looked up on the calling thread: the hub thread's own connection


def _viewer(staff: bool) -> User:
    """A stand-in viewer of a class: the feed reads only whether its viewer is staff."""
    return User(is_staff=staff)


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PresenceHub]" = weakref.WeakKeyDictionary()


def hub() -> PresenceHub:
    """This event loop's hub (a server process has one loop; tests may run several)."""
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = PresenceHub()
    return _hubs[loop]
