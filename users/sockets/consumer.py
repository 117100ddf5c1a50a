"""The presence socket (docs/PRESENCE.md): authenticates, turns client messages into heartbeats, hands pushes to the hub."""

import asyncio
import logging

import orjson
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError
from rest_framework.exceptions import AuthenticationFailed

from users.auth.logins import SessionEnded, heartbeat, socket_token
from users.presence.scope import EVERYONE, may_watch_everyone
from users.sockets import protocol
from users.sockets.hub import hub

logger = logging.getLogger(__name__)


def in_thread(function):
    """`function` run on a pool thread with its own connection (not Django's one shared thread)."""
    # On the one thread-sensitive thread, a state message would queue behind every HTTP request.
    return database_sync_to_async(function, thread_sensitive=False)


class PresenceConsumer(AsyncWebsocketConsumer):
    """One client socket; pushes come from the hub, which reads the feed, so no channel-layer group is joined."""

    # A group per socket stalled channels-redis near 5k sockets; the hub needs none.
    channel_layer_alias = None

    async def dispatch(self, message):
        # Channels closes stale connections before every handler, a hop to the one thread-sensitive
        # thread per message: queued behind HTTP requests, and 10% of server CPU while 10k sockets
        # opened. Nothing here uses that thread's connection: in_thread() and the hub keep their own.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message):
        await self.disconnect(message["code"])  # no channel-layer groups, no connection of this thread to close
        raise StopConsumer

    async def connect(self):
        self.user = self.token = self.sid = None
        self.ended_sids: set[str] = set()
        self.budget = protocol.MessageBudget()
        await self.accept()
        self.auth_timer = asyncio.get_running_loop().call_later(
            settings.PRESENCE_WS_AUTH_SECONDS, lambda: asyncio.ensure_future(self.close(protocol.NOT_AUTHENTICATED))
        )

    async def disconnect(self, code):
        self.auth_timer.cancel()
        if self.sid is not None:
            hub().leave(self)

    async def receive(self, text_data=None, bytes_data=None):
        if not self.budget.spend():
            await self.close(protocol.TOO_MANY)
            return
        if text_data is None:
            await self._send(protocol.error("binary_unsupported", "Messages are JSON text frames."))
            return
        if len(text_data) > protocol.max_message_chars():
            await self.close(protocol.TOO_LARGE)
            return
        try:
            message = protocol.parse(text_data)
        except protocol.ProtocolError as exc:
            await self._send(protocol.error(exc.code, exc.detail))
            return
        kind = message["type"]
        if kind == protocol.PING:
            await self._send(protocol.PONG)
        elif kind == protocol.AUTH:
            await self._authenticate(message)
        elif self.user is None:
            await self._send(protocol.error("not_authenticated", 'Send {"type": "auth", "access": ...} first.'))
        elif kind == protocol.WATCH:
            if await self._allowed(message["users"]):
                hub().rewatch(self, message["users"])
        else:
            await self._heartbeat(message["state"])

    async def _authenticate(self, message: dict) -> None:
        if self.user is not None:
            await self._send(protocol.error("already_authenticated", "This socket is authenticated already."))
            return
        self.auth_timer.cancel()  # the deadline is for sending auth; checking it may queue behind others
        try:
            token = socket_token(message["access"])
        except AuthenticationFailed:
            await self.close(protocol.NOT_AUTHENTICATED)
            return
        # The hub checks it with the cycle's other auth messages, then answers or closes this socket;
        # messages sent meanwhile wait for it.
        await hub().admit(self, token, message["since"], message["watch"])

    async def _allowed(self, scope) -> bool:
        """Whether this socket may watch `scope`; a forbidden "all" is answered with an error."""
        if scope != EVERYONE or may_watch_everyone(self.user):
            return True
        await self.send(text_data=protocol.FORBIDDEN_ALL)
        return False

    async def _heartbeat(self, state: str) -> None:
        try:
            await in_thread(heartbeat)(self.user, access_token=self.token, state=state)
        except SessionEnded:
            await self.close(protocol.NOT_AUTHENTICATED)
        except DatabaseError:
            await self._send(protocol.error("unavailable", "The server cannot record this now; try again."))

    async def _send(self, message: dict) -> None:
        await self.send(text_data=orjson.dumps(message).decode())
