"""The presence socket's wire format: its path, close codes, limits, and the messages each side sends."""

import json
import time
from dataclasses import dataclass

import orjson

from users.presence.rules import SESSION_STATES
from users.presence.scope import EVERYONE, InvalidWatch, Scope, watch_list, watch_max
from users.presence.selectors import SOCKET_PATH

PATH = SOCKET_PATH

# Close codes (4000-4999 are the application's own; RFC 6455 keeps 1009/1013 for the server,
# but browsers and autobahn refuse an application closing with them, so ours mirror HTTP instead).
NOT_AUTHENTICATED = 4401  # missing, bad, expired or revoked token; a logout or deactivation
TOO_LARGE = 4413  # a frame over max_message_chars()
TOO_MANY = 4429  # more messages than MessageBudget allows
UNAVAILABLE = 4503  # the server cannot reach its database; reconnect with backoff

# A client message is a few dozen bytes, an access token under 1 KB, and a watch list at most
# PRESENCE_WATCH_MAX ids of up to 19 digits each, with a comma and a space.
BASE_MESSAGE_CHARS = 4096
CHARS_PER_WATCHED_ID = 21


def max_message_chars() -> int:
    """The longest text frame a client may send: room for an auth message with the longest watch list."""
    return BASE_MESSAGE_CHARS + CHARS_PER_WATCHED_ID * watch_max()


# Client -> server message types, and the fields each one takes.
AUTH, STATE, PING, WATCH = "auth", "state", "ping", "watch"
PONG = {"type": "pong"}


class ProtocolError(ValueError):
    """A client message the protocol does not allow; `code` names why, for the error message."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code, self.detail = code, detail


def error(code: str, detail: str) -> dict:
    """The error message: the socket stays open and nothing was changed."""
    return {"type": "error", "code": code, "detail": detail}


# A non-staff "all" where PRESENCE_WATCH_ALL_FOR is staff: refused, and the scope in force stays.
FORBIDDEN_ALL = orjson.dumps(
    error("forbidden", f'Only staff may watch "{EVERYONE}" here: send a list of user ids.')
).decode()


# Users per presence message: a 10k-user snapshot is 1.5 MB, over the server's 1 MiB message limit
# (daphne's websocket_max_message_size), so big ones go out in parts of about 300 KB.
USERS_PER_MESSAGE = 2000


def presence(cursor, full: bool, entries: list[str]) -> list[str]:
    """A push as text frames: the feed's body (GET /api/users/presence/) plus its type, in parts if it is big.

    `entries` are the users' entries as JSON texts, each made once (users/presence/selectors.py). Every
    part but the last has `"more": true`: apply its users, but keep the cursor only from the last part
    (a socket that drops mid-way resumes from the cursor before, and misses nothing). Only the first
    part of a full snapshot has `full: true`.
    """
    # Joined, not re-serialised: a socket's message costs what it carries. A cursor is digits, dots and dashes.
    parts = [entries[i : i + USERS_PER_MESSAGE] for i in range(0, len(entries), USERS_PER_MESSAGE)] or [[]]
    texts = []
    for index, part in enumerate(parts):
        more = ',"more":true' if index < len(parts) - 1 else ""
        first = "true" if full and index == 0 else "false"
        texts.append(f'{{"type":"presence","cursor":"{cursor}","full":{first},"users":[{",".join(part)}]{more}}}')
    return texts


def _scope(value) -> Scope:
    """A message's watch value: "all", or a list of user ids (users/presence/scope.py checks it)."""
    if value == EVERYONE:
        return EVERYONE
    if not isinstance(value, list):
        raise ProtocolError(InvalidWatch.code, f'"watch" and "users" take a list of user ids, or "{EVERYONE}".')
    try:
        return watch_list(value)
    except InvalidWatch as exc:
        raise ProtocolError(exc.code, str(exc)) from None


def parse(text: str) -> dict:
    """A client's text frame as a checked message: {"type": auth|state|ping|watch, ...}; ProtocolError otherwise."""
    try:
        message = json.loads(text)
    except ValueError:
        raise ProtocolError("invalid_json", "Messages are JSON objects.") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("invalid_message", 'Messages are JSON objects with a "type".')
    kind = message["type"]
    if kind == AUTH:
        access, since = message.get("access"), message.get("since")
        if not isinstance(access, str) or not access:
            raise ProtocolError("invalid_message", 'auth needs "access": an access token.')
        if since is not None and not isinstance(since, str):
            raise ProtocolError("invalid_message", '"since" is a cursor string.')
        watch = _scope(message["watch"]) if message.get("watch") is not None else None
        return {"type": AUTH, "access": access, "since": since or None, "watch": watch}
    if kind == STATE:
        if message.get("state") not in SESSION_STATES:
            raise ProtocolError("invalid_message", f'state needs "state": one of {", ".join(SESSION_STATES)}.')
        return {"type": STATE, "state": message["state"]}
    if kind == PING:
        return {"type": PING}
    if kind == WATCH:
        return {"type": WATCH, "users": _scope(message.get("users"))}
    raise ProtocolError("unknown_type", f"Unknown message type; expected {AUTH}, {STATE}, {WATCH} or {PING}.")


@dataclass
class MessageBudget:
    """A token bucket per socket: `burst` messages at once, then `per_second`; a client over it is cut off."""

    burst: float = 20
    per_second: float = 1

    def __post_init__(self):
        self._tokens, self._at = self.burst, time.monotonic()

    def spend(self) -> bool:
        """Take one message from the budget; False when it is spent."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
