"""Sockets let in and answered together, a cycle at a time: one statement for all of a cycle's auth messages,
and one per visibility class for the first answers (after an auth, or of a new watch list).

A reconnect storm then costs a few statements per cycle, not a few per socket.
"""

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from rest_framework_simplejwt.tokens import Token

from users.auth.logins import connect_sockets
from users.models import User
from users.presence import selectors
from users.presence.scope import EVERYONE, Scope, default_scope, may_watch_everyone
from users.presence.sequence import Cursor, InvalidCursor
from users.sockets import protocol
from users.sockets.watchers import viewer


@dataclass(frozen=True)
class Admit:
    """A socket whose auth message arrived: its checked token, its cursor and the watch list it named (None: none)."""

    consumer: object
    token: Token
    since: str | None
    watch: Scope | None
    done: asyncio.Future  # True once admitted and answered; False once refused and closed


@dataclass(frozen=True)
class Ask:
    """A socket waiting for the answer of `scope`: the changes since `since`, or a snapshot without one."""

    consumer: object
    staff: bool
    since: str | None
    scope: Scope


@dataclass(frozen=True)
class Admitted:
    """A socket let in: its user, and whether the "all" it asked for was refused (it watches itself instead)."""

    admit: Admit
    user: User
    forbidden: bool


def admit(admits: list[Admit]) -> tuple[list[Admitted], list[Admit], list[Ask]]:
    """A cycle's auth messages checked together (hub thread): (admitted, refused, the asks of the admitted)."""
    users = connect_sockets([a.token for a in admits])
    admitted, refused, asks = [], [], []
    for a, user in zip(admits, users, strict=True):
        if user is None:
            refused.append(a)
            continue
        forbidden = a.watch == EVERYONE and not may_watch_everyone(user)
        scope = default_scope(user) if a.watch is None or forbidden else a.watch
        admitted.append(Admitted(a, user, forbidden))
        asks.append(Ask(a.consumer, bool(user.is_staff), a.since, scope))
    return admitted, refused, asks


@dataclass
class Answers:
    """What one read gave a class's asks: the cursor, whether each answer is full, and the entries of them all."""

    asks: list[Ask]
    cursor: Cursor
    full: list[bool]
    entries: list[tuple[int, str]]  # (user id, the entry's JSON text)


def read_answers(asks: list[Ask]) -> dict[bool, Answers]:
    """The answers of a cycle's asks, one statement per visibility class however many sockets ask (hub thread)."""
    by_class: dict[bool, list[Ask]] = {}
    for ask in asks:
        by_class.setdefault(ask.staff, []).append(ask)
    answers = {}
    for staff, group in by_class.items():
        cursor, full, entries = selectors.presence_for_sockets(
            viewer(staff), [(_cursor(a.since), a.scope) for a in group]
        )
        answers[staff] = Answers(group, cursor, full, entries)
    return answers


def _cursor(since: str | None) -> Cursor | None:
    """The cursor a socket resumes from; None (a snapshot) for none, or for one this server never issued."""
    with contextlib.suppress(InvalidCursor):
        return Cursor.parse(since) if since is not None else None
    return None


def answer_texts(answers: Answers) -> Iterator[tuple[Ask, list[str]]]:
    """Each ask's answer as text frames: the entries of its scope; the sockets watching everyone share one answer."""
    by_id = dict(answers.entries)
    everyone: dict[bool, list[str]] = {}
    for ask, full in zip(answers.asks, answers.full, strict=True):
        if ask.scope == EVERYONE:
            if full not in everyone:
                everyone[full] = protocol.presence(answers.cursor, full, [text for _, text in answers.entries])
            yield ask, everyone[full]
        else:
            shown = sorted(user_id for user_id in ask.scope if user_id in by_id)
            yield ask, protocol.presence(answers.cursor, full, [by_id[user_id] for user_id in shown])
