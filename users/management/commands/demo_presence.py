"""Bring the played demo accounts to life for `make run`: they log in, heartbeat, log out or close the tab, as clients do."""

import logging
import random
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from users.auth.logins import SessionEnded, heartbeat, log_in, log_out
from users.management.commands.seed_demo import PLAYED_USERS
from users.models import User
from users.presence import transition_log

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Play the demo-* accounts' presence until Ctrl-C, through the same login, heartbeat and logout a client "
        "uses (development only; it never touches any other account, so the README's walkthrough users are yours)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=4.0, help="seconds between two changes (default 4)")
        parser.add_argument("--changes", type=int, default=0, help="stop after this many changes (default: never)")

    def handle(self, *args, every: float, changes: int, verbosity: int, **options):
        # The played accounts' transitions are the demo's own noise: a line every few seconds in `make run`.
        transitions = logging.getLogger(transition_log.__name__)
        transitions_level = transitions.level
        if verbosity < 2:
            transitions.setLevel(logging.WARNING)
        users = {user.username: user for user in User.objects.filter(username__in=[u[0] for u in PLAYED_USERS])}
        sessions = {}  # username -> refresh token of the open "tab"
        self.stdout.write(f"demo presence plays {', '.join(sorted(users))} (a change every {every:g}s)")
        made, self._last_beat = 0, 0.0
        # honcho stops its processes with SIGTERM: stop as on Ctrl-C, and log the open tabs out, so the played
        # users do not read online (until the sweep) after everything has stopped.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            while users and (not changes or made < changes):
                made += 1
                self._change(users, sessions)
                self._keep_open_tabs_alive(users, sessions, until=time.monotonic() + every)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            for name, refresh in sessions.items():
                log_out(users[name], access_token=refresh.access_token)
            transitions.setLevel(transitions_level)
        self.stdout.write(f"demo presence stopped after {made} changes; its open tabs logged out")

    @staticmethod
    def _change(users: dict, sessions: dict) -> None:
        """One played user logs in, logs out or closes the tab."""
        name = random.choice(sorted(users))
        user = users[name]
        if name not in sessions:
            sessions[name] = log_in(user)
            logger.debug("demo %s logs in", name)
        elif random.random() < 0.5:
            log_out(user, access_token=sessions.pop(name).access_token)
            logger.debug("demo %s logs out", name)
        else:
            sessions.pop(name)  # closes the tab: the timeout and the sweep take them offline
            logger.debug("demo %s closes the tab", name)

    def _keep_open_tabs_alive(self, users: dict, sessions: dict, *, until: float) -> None:
        """Heartbeat every open tab as a client does, until `until` (monotonic)."""
        while True:
            if time.monotonic() - self._last_beat >= settings.PRESENCE_HEARTBEAT_SECONDS:
                for open_tab, refresh in list(sessions.items()):
                    try:
                        heartbeat(users[open_tab], access_token=refresh.access_token)
                    except SessionEnded:
                        sessions.pop(open_tab)
                self._last_beat = time.monotonic()
            if time.monotonic() >= until:
                return
            time.sleep(min(0.5, max(0.0, until - time.monotonic())))


def _interrupt(signum, frame):
    raise KeyboardInterrupt
