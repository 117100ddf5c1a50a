"""One hub per server process: admits authenticated sockets, pushes the feed to them, keeps their sessions alive.

Each cycle (every PRESENCE_PUSH_SECONDS, or at once when a socket sends auth or a new watch list)
the hub does all its database work in one call on its own thread: it closes the sockets of sessions
ended since the last cycle, lapses and touches sessions (users/sockets/liveness.py), reads the feed
once per visibility class (staff, everyone else) from that class's cursor, lets in the sockets whose
auth arrived and reads the first answers of the sockets that asked for one (users/sockets/admission.py). Each socket is sent only the entries it watches
(users/sockets/watchers.py). Pushes are the feed, so they inherit its guarantees: timeouts, late
commits, account changes and changes made by any process or worker all show, and none is skipped.
"""

import asyncio
import contextlib
import logging
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections, connection
from rest_framework_simplejwt.tokens import Token

from users.auth.revocation import session_id
from users.presence import clock, selectors
from users.presence.scope import Scope
from users.presence.sequence import Cursor
from users.presence.socket_writes import touch_live_sessions
from users.sockets import admission, protocol
from users.sockets.admission import Admit, Admitted, Answers, Ask
from users.sockets.liveness import Liveness, lapse_due
from users.sockets.watchers import OTHERS, STAFF, Watchers, class_of, viewer

logger = logging.getLogger(__name__)
# The feed repeats an entry for at most its margin after the change: remember twice that.
REPEAT_SECONDS = 2 * clock.FEED_MARGIN.total_seconds()


@dataclass
class Work:
    """What a cycle is asked to do, copied from the event loop's state."""

    admits: list[Admit]
    asks: list[Ask]
    reads: dict[bool, Cursor]
    closed: dict[str, tuple[int, datetime]]
    touch: list[str]


@dataclass
class Cycle:
    """What one cycle read: sessions to close, a push per class, and the answers of the sockets that asked."""

    ended: set[str] = field(default_factory=set)
    pushes: dict[bool, tuple[Cursor, list[tuple[int, str]]]] = field(default_factory=dict)
    admitted: list[Admitted] = field(default_factory=list)
    refused: list[Admit] = field(default_factory=list)
    answers: dict[bool, Answers] = field(default_factory=dict)
    lapsed: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    ends_checked_at: datetime | None = None


class PresenceHub:
    """The sockets of one event loop and the cursors they share."""

    def __init__(self):
        self.watchers: dict[bool, Watchers] = {STAFF: Watchers(), OTHERS: Watchers()}
        self.cursors: dict[bool, Cursor | None] = {STAFF: None, OTHERS: None}
        self.admitting: list[Admit] = []
        self.asking: list[Ask] = []
        self.by_sid: dict[str, set] = {}
        self.liveness = Liveness()
        self.ends_checked_at = clock.now()
        self.cycles = 0  # cycles completed, for tests that wait for the hub
        # What each class was last sent per user, for REPEAT_SECONDS: the feed sends a timeout again
        # on every read within its margin, and a push that repeats an entry is left out.
        self.sent: dict[bool, dict[int, tuple[float, str]]] = {STAFF: {}, OTHERS: {}}
        self.failing = False
        self.wake = asyncio.Event()
        # One thread: the cycle's statements run in order on one connection, off the event loop.
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="presence-hub")
        self.task = asyncio.get_running_loop().create_task(self.run())

    # --- Sockets come and go, and name what they watch (event loop) ------------------------------
    def admit(self, consumer, token: Token, since: str | None, watch: Scope | None) -> asyncio.Future:
        """A socket's auth, checked and answered in the next cycle with the others; the future says if it was let in."""
        self.liveness.resumed(session_id(token))  # a reconnect within the grace: the session never lapses
        done = asyncio.get_running_loop().create_future()
        self.admitting.append(Admit(consumer, token, since, watch, done))
        self.wake.set()
        return done

    def rewatch(self, consumer, scope: Scope) -> None:
        """A joined socket watches `scope` instead: a snapshot of it next cycle, then only its pushes."""
        # A request not yet read is replaced: the socket would only throw its answer away.
        self.asking = [ask for ask in self.asking if ask.consumer is not consumer]
        self.asking.append(Ask(consumer, class_of(consumer), None, scope))
        self.wake.set()

    def leave(self, consumer) -> None:
        """A closed socket; the last one of its session starts the disconnect grace."""
        for watchers in self.watchers.values():
            watchers.unwatch(consumer)
        self.asking = [ask for ask in self.asking if ask.consumer is not consumer]
        sockets = self.by_sid.get(consumer.sid)
        if sockets is None:
            return
        sockets.discard(consumer)
        if not sockets:
            del self.by_sid[consumer.sid]
            if consumer.sid not in consumer.ended_sids:
                self.liveness.released(consumer.sid, consumer.user.pk)

    # --- The cycle --------------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), settings.PRESENCE_PUSH_SECONDS)
            self.wake.clear()
            if not (self.by_sid or self.liveness.closed or self.asking or self.admitting):
                continue
            await self.cycle()

    async def cycle(self) -> None:
        admits, self.admitting = self.admitting, []
        asks, self.asking = self.asking, []
        # The hub thread gets copies: the event loop goes on changing the originals meanwhile.
        touch = self.liveness.touches(self.by_sid)
        reads = {staff: cursor for staff, cursor in self.cursors.items() if cursor is not None and self.watchers[staff]}
        work = Work(admits, asks, reads, dict(self.liveness.closed), touch)
        try:
            done = await asyncio.get_running_loop().run_in_executor(self.executor, self._read, work)
        except Exception:
            if not self.failing:  # one line per outage, not one per cycle
                logger.exception("presence hub cycle failed; retrying every %ss", settings.PRESENCE_PUSH_SECONDS)
            self.failing = True
            self.liveness.retry(touch)
            # A socket already served keeps its old scope and asks again next cycle; a new one comes back later.
            self.asking = asks + self.asking
            await self._send_text([a.consumer for a in admits], [], close=protocol.UNAVAILABLE)
            for a in admits:
                _settle(a.done, False)
            return
        if self.failing:
            logger.info("presence hub cycle recovered")
        self.failing = False
        # Only a cycle that closed what it found moves the window on: one failing after that read (a
        # database stalling mid-cycle) leaves those sessions for the next, however long the outage.
        self.ends_checked_at = done.ends_checked_at
        self.liveness.forget_lapsed(done.lapsed)
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
        done.lapsed = lapse_due(work.closed, done.ended, at)
        touch_live_sessions([sid for sid in work.touch if sid not in done.ended], at)
        for staff, cursor in work.reads.items():
            done.pushes[staff] = selectors.presence_changes(viewer(staff), cursor, as_text=True)
        done.admitted, done.refused, asks = admission.admit(work.admits) if work.admits else ([], [], [])
        # After the pushes' reads: an answer is newer than its class's cursor, so the next push can
        # repeat an entry of it, never skip one.
        done.answers = admission.read_answers(work.asks + asks)
        return done

    async def _apply(self, done: Cycle) -> None:
        for sid in done.ended & self.by_sid.keys():
            for consumer in list(self.by_sid.get(sid, ())):
                consumer.ended_sids.add(sid)
                await consumer.close(code=protocol.NOT_AUTHENTICATED)
        for staff, (cursor, entries) in done.pushes.items():
            self.cursors[staff] = cursor
            entries = self._unsent(staff, entries)
            if entries:
                await self._fan_out(staff, cursor, entries)
        for a in done.refused:
            await self._send_text([a.consumer], [], close=protocol.NOT_AUTHENTICATED)
            _settle(a.done, False)
        for let_in in done.admitted:
            if let_in.admit.done.cancelled():
                continue  # the server gave up on the socket meanwhile: nothing may keep its session alive
            consumer = let_in.admit.consumer
            consumer.user, consumer.token, consumer.sid = (
                let_in.user,
                let_in.admit.token,
                session_id(let_in.admit.token),
            )
            self.by_sid.setdefault(consumer.sid, set()).add(consumer)
            self.liveness.held(consumer.sid)
            if let_in.forbidden:
                await self._send_text([consumer], [protocol.FORBIDDEN_ALL])
        for staff, answers in done.answers.items():
            self._forget_differing(staff, answers.entries)
            for ask, texts in admission.answer_texts(answers):
                if ask.consumer not in self.by_sid.get(getattr(ask.consumer, "sid", None), ()):
                    continue  # closed while its read ran
                await self._send_text([ask.consumer], texts)
                self.watchers[staff].watch(ask.consumer, ask.scope)
            # The class reads from the oldest cursor it must serve: an answer read after it, so repeats, never misses.
            if self.cursors[staff] is None and self.watchers[staff]:
                self.cursors[staff] = answers.cursor
        for staff, watchers in self.watchers.items():
            if not watchers:
                self.cursors[staff] = None  # nobody to read for
                self.sent[staff].clear()
        for let_in in done.admitted:
            _settle(let_in.admit.done, True)

    async def _fan_out(self, staff: bool, cursor: Cursor, entries: dict[int, str]) -> None:
        """A class's push: one shared message to the sockets watching everyone, and to each other its own entries."""
        watchers = self.watchers[staff]
        if watchers.everyone:
            await self._send_text(list(watchers.everyone), protocol.presence(cursor, False, list(entries.values())))
        for consumer, texts in watchers.listed(entries).items():
            await self._send_text([consumer], protocol.presence(cursor, False, texts))

    def _forget_differing(self, staff: bool, entries: list[tuple[int, str]]) -> None:
        """A user an answer holds differently from what its class last sent is not left out of the next push as a repeat."""
        # (Changed and changed back between two reads: the next push must not take it for a repeat.)
        sent = self.sent[staff]
        for user_id, text in entries:
            if user_id in sent and sent[user_id][1] != text:
                del sent[user_id]

    def _unsent(self, staff: bool, entries: list[tuple[int, str]]) -> dict[int, str]:
        """The entries that differ from what the class was last sent, by user id; remembers them."""
        now, sent = time.monotonic(), self.sent[staff]
        fresh = {user_id: text for user_id, text in entries if sent.get(user_id, (0, None))[1] != text}
        for user_id, text in entries:
            sent[user_id] = (now, text)
        for user_id in [i for i, (at, _) in sent.items() if now - at > REPEAT_SECONDS]:
            del sent[user_id]
        return fresh

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


def _settle(done: asyncio.Future, admitted: bool) -> None:
    if not done.done():
        done.set_result(admitted)


def _close_connection() -> None:
    connection.close()  # looked up on the calling thread: the hub thread's own connection


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PresenceHub]" = weakref.WeakKeyDictionary()


def hub() -> PresenceHub:
    """This event loop's hub (a server process has one loop; tests may run several)."""
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = PresenceHub()
    return _hubs[loop]
