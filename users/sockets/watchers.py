"""Who watches whom among one visibility class's sockets: those watching everyone, and an index from user id to sockets."""

from users.models import User
from users.presence.scope import EVERYONE, Scope


class Watchers:
    """The sockets of one class and their scopes; routes a cycle's entries to the sockets that watch them."""

    def __init__(self):
        self.everyone: set = set()
        self.by_user: dict[int, set] = {}
        self.scopes: dict[object, Scope] = {}

    def __len__(self) -> int:
        return len(self.scopes)

    def __contains__(self, consumer) -> bool:
        return consumer in self.scopes

    def __iter__(self):
        return iter(list(self.scopes))

    def watch(self, consumer, scope: Scope) -> None:
        """`consumer` watches `scope` from now on, instead of what it watched before."""
        self.unwatch(consumer)
        self.scopes[consumer] = scope
        if scope == EVERYONE:
            self.everyone.add(consumer)
            return
        for user_id in scope:
            self.by_user.setdefault(user_id, set()).add(consumer)

    def unwatch(self, consumer) -> None:
        """`consumer` watches nobody (it closed, or is about to watch something else)."""
        scope = self.scopes.pop(consumer, None)
        if scope is None:
            return
        if scope == EVERYONE:
            self.everyone.discard(consumer)
            return
        for user_id in scope:
            watching = self.by_user.get(user_id)
            if watching is not None:
                watching.discard(consumer)
                if not watching:
                    del self.by_user[user_id]

    def listed(self, entries: dict[int, str]) -> dict[object, list[str]]:
        """The entries each socket with a watch list gets: `entries` is user id -> entry text.

        The work is one lookup per entry plus one append per delivery, whatever the number of sockets.
        """
        deliveries: dict[object, list[str]] = {}
        for user_id, text in entries.items():
            for consumer in self.by_user.get(user_id, ()):
                deliveries.setdefault(consumer, []).append(text)
        return deliveries


# --- Visibility classes ---------------------------------------------------------------------------
# Staff and everyone else see different entries (the invisible mark, account fields), so each class
# has its own feed read and cursor; within a class, every viewer sees the same entry of a user.
STAFF, OTHERS = True, False


def class_of(consumer) -> bool:
    """The visibility class of an authenticated socket."""
    return bool(consumer.user.is_staff)


def viewer(staff: bool) -> User:
    """A stand-in viewer of a class: the feed reads only whether its viewer is staff."""
    return User(is_staff=staff)
