"""Costs daphne's WebSocket stack pays per connection that a server holding 10k sockets cannot afford."""

import pprint

from autobahn.websocket import protocol as autobahn_protocol


class _LazyPformat:
    """pprint.pformat(obj), computed only if a log line is actually written."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __str__(self) -> str:
        return pprint.pformat(self.obj)

    __format__ = lambda self, spec: format(str(self), spec)  # noqa: E731 - the log formatter calls format()


def install() -> None:
    """Make autobahn's per-connection debug dump of its options lazy."""
    # Every new socket pformat()s its 40-odd options for a debug line the log level then drops: 8% of
    # server CPU while 10k sockets opened (py-spy).
    autobahn_protocol.pformat = _LazyPformat
