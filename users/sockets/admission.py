"""A socket's first answer of a scope, after its auth or a new watch list: read together for a whole cycle."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from users.presence import selectors
from users.presence.scope import EVERYONE, Scope
from users.presence.sequence import Cursor, InvalidCursor
from users.sockets import protocol
from users.sockets.watchers import class_of, viewer


@dataclass(frozen=True)
class Ask:
    """A socket waiting for the answer of `scope`: the changes since `since`, or a snapshot without one."""

    consumer: object
    since: str | None
    scope: Scope


@dataclass
class Answers:
    """What one read gave a class's asks: the cursor, whether each answer is full, and the rows of them all."""

    asks: list[Ask]
    cursor: Cursor
    full: list[bool]
    rows: list[dict]


def read_answers(asks: list[Ask]) -> dict[bool, Answers]:
    """The answers of a cycle's asks, one statement per visibility class however many sockets ask (hub thread)."""
    by_class: dict[bool, list[Ask]] = {}
    for ask in asks:
        by_class.setdefault(class_of(ask.consumer), []).append(ask)
    answers = {}
    for staff, group in by_class.items():
        cursor, full, rows = selectors.presence_for_sockets(viewer(staff), [(_cursor(a.since), a.scope) for a in group])
        answers[staff] = Answers(group, cursor, full, rows)
    return answers


def _cursor(since: str | None) -> Cursor | None:
    """The cursor a socket resumes from; None (a snapshot) for none, or for one this server never issued."""
    with contextlib.suppress(InvalidCursor):
        return Cursor.parse(since) if since is not None else None
    return None


def answer_texts(answers: Answers) -> Iterator[tuple[Ask, list[str]]]:
    """Each ask's answer as text frames: the rows of its scope, each serialised once however many asks share it."""
    by_id = {row["id"]: row for row in answers.rows}
    entries: dict[int, str] = {}
    everyone: dict[bool, list[str]] = {}  # sockets watching everyone share one serialised answer

    def entry(user_id: int) -> str:
        if user_id not in entries:
            entries[user_id] = protocol.entry(by_id[user_id])
        return entries[user_id]

    for ask, full in zip(answers.asks, answers.full, strict=True):
        if ask.scope == EVERYONE:
            if full not in everyone:
                everyone[full] = protocol.presence(answers.cursor, full, [entry(row["id"]) for row in answers.rows])
            yield ask, everyone[full]
        else:
            shown = sorted(user_id for user_id in ask.scope if user_id in by_id)
            yield ask, protocol.presence(answers.cursor, full, [entry(user_id) for user_id in shown])
