"""What a viewer watches: everyone, or a list of user ids; the list's limits, and who may watch everyone.

A socket and a feed read name their scope the same way, so a client that cannot hold a socket
gets the same scoping. Work then follows what each viewer watches, not the size of the organisation.
"""

from collections.abc import Iterable
from typing import Literal

from django.conf import settings

# The wire value for "every user", today's behaviour for a client that names no list.
EVERYONE: Literal["all"] = "all"
Scope = frozenset[int] | Literal["all"]
# User ids are bigint primary keys: a larger number names no user, and no query may carry it.
MAX_USER_ID = 2**63 - 1


class InvalidWatch(ValueError):
    """A watch list the protocol does not allow; the list in force stays as it was."""

    code = "invalid_watch"


def watch_max() -> int:
    """The most user ids one watch list may name (PRESENCE_WATCH_MAX)."""
    return settings.PRESENCE_WATCH_MAX


def watch_list(ids: Iterable[object]) -> frozenset[int]:
    """`ids` as a watch list: distinct positive integers, at most watch_max(); InvalidWatch otherwise."""
    ids = list(ids)
    if len(ids) > watch_max():
        raise InvalidWatch(f"A watch list names at most {watch_max()} users.")
    # JSON true is an int to Python, and 1.0 is not an id.
    if not all(type(i) is int and 1 <= i <= MAX_USER_ID for i in ids):
        raise InvalidWatch("A watch list holds user ids: positive integers.")
    scope = frozenset(ids)
    if len(scope) != len(ids):
        raise InvalidWatch("A watch list names each user once.")
    return scope


def may_watch_everyone(user) -> bool:
    """Whether `user` may watch everyone: all users, or only staff where PRESENCE_WATCH_ALL_FOR is staff."""
    return settings.PRESENCE_WATCH_ALL_FOR == "everyone" or bool(user.is_staff)


def default_scope(user) -> Scope:
    """The scope of a viewer that names none: everyone, or only themself where everyone is kept for staff."""
    return EVERYONE if may_watch_everyone(user) else frozenset({user.pk})


def watches(scope: Scope, user_id: int) -> bool:
    """Whether `scope` includes the user `user_id`."""
    return scope == EVERYONE or user_id in scope
