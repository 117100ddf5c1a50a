"""A count of the SQL statements this process sends, for the realtime scenario's idle cost (bench settings only)."""

import threading

from django.db.backends.signals import connection_created

# The hub's thread and the request threads share the count.
_lock = threading.Lock()
_sent = 0


def _count(execute, sql, params, many, context):
    global _sent
    with _lock:
        _sent += 1
    return execute(sql, params, many, context)


def _install(sender, connection, **kwargs) -> None:
    if _count not in connection.execute_wrappers:  # a reconnect fires the signal again on the same wrapper
        connection.execute_wrappers.append(_count)


def sent() -> int:
    """Statements sent by every database connection of this process since it started."""
    return _sent


connection_created.connect(_install)
