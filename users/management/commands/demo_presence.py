"""Bring the demo users to life for `make run`: they come online, heartbeat, log out or fall silent, through the services."""

import random
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from users.management.commands.seed_demo import DEMO_USERS
from users.models import User
from users.services.simple_online_status import mark_user_offline, mark_user_online


class Command(BaseCommand):
    help = "Simulate the demo users' presence until Ctrl-C (development only; never touches other accounts)."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=4.0, help="seconds between two changes (default 4)")
        parser.add_argument("--changes", type=int, default=0, help="stop after this many changes (default: never)")

    def handle(self, *args, every: float, changes: int, **options):
        users = dict(User.objects.filter(username__in=[u[0] for u in DEMO_USERS]).values_list("username", "pk"))
        heartbeating: set[str] = set()  # users whose "tab" is open
        last_beat = 0.0
        self.stdout.write(f"demo presence for {', '.join(sorted(users))}: a change every {every:g}s")
        made = 0
        while not changes or made < changes:
            made += 1
            name = random.choice(sorted(users))
            if name not in heartbeating:
                mark_user_online(users[name])  # logs in
                heartbeating.add(name)
                self.stdout.write(f"{name} logs in")
            elif random.random() < 0.5:
                mark_user_offline(users[name], reason="demo")  # logs out
                heartbeating.discard(name)
                self.stdout.write(f"{name} logs out")
            else:
                heartbeating.discard(name)  # closes the tab: beat marks them offline after the timeout
                self.stdout.write(f"{name} closes the tab")
            deadline = time.monotonic() + every
            while time.monotonic() < deadline:
                if time.monotonic() - last_beat >= settings.PRESENCE_HEARTBEAT_SECONDS:
                    for open_tab in heartbeating:
                        mark_user_online(users[open_tab])
                    last_beat = time.monotonic()
                time.sleep(0.5)
