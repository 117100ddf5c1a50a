"""Costs daphne's WebSocket stack pays per connection, or per connection and second, that a server holding
10k sockets cannot afford."""

import gc
import itertools
import pprint
import sys

from autobahn.websocket import protocol as autobahn_protocol

# 10k held sockets are about 1.5M objects that live as long as their socket, and a full collection
# walks them all: 1.2 s each, twice in 30 idle seconds (8% of a core), 9 s of the 28 s of CPU that
# opening them cost (gc.callbacks). The objects a cycle or a message makes die young, so collecting
# the young generation less often, and the old one after 100 of its collections instead of 10,
# frees the same garbage at a tenth of the walks.
GC_THRESHOLDS = (10_000, 10, 100)


class _LazyPformat:
    """pprint.pformat(obj), computed only if a log line is actually written."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __str__(self) -> str:
        return pprint.pformat(self.obj)

    __format__ = lambda self, spec: format(str(self), spec)  # noqa: E731 - the log formatter calls format()


def install() -> None:
    """Make autobahn's per-connection debug dump of its options lazy, and full collections of the heap rarer."""
    # Every new socket pformat()s its 40-odd options for a debug line the log level then drops: 8% of
    # server CPU while 10k sockets opened (py-spy).
    autobahn_protocol.pformat = _LazyPformat
    gc.set_threshold(*GC_THRESHOLDS)
    server = sys.modules.get("daphne.server")  # imported by daphne's CLI and runserver, never by a test
    if server is not None and not getattr(server.Server, "_thinned", False):
        # Each walks every connection: with 10k sockets, 3% of a core between them while idle.
        server.Server.application_checker = _every(server.Server.application_checker, APPLICATION_CHECKS, 1)
        server.Server.timeout_checker = _every(server.Server.timeout_checker, TIMEOUT_CHECKS, 2)
        server.Server._thinned = True


# daphne reaps finished applications every second and checks timeouts and pings every 2 s; every 5 s
# and every 4 s are soon enough (its timeouts are 10 s and more, its pings 20 s apart).
APPLICATION_CHECKS, TIMEOUT_CHECKS = 5, 2


def _every(checker, nth: int, period: float):
    """`checker`, which reschedules itself every `period` s, doing its walk only on every `nth` call."""
    calls = itertools.count()

    def thinned(self):
        if next(calls) % nth:
            sys.modules["daphne.server"].reactor.callLater(period, getattr(self, checker.__name__))
        else:
            checker(self)

    thinned.__name__ = checker.__name__
    return thinned
