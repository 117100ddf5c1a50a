"""Create the demo admin and demo users once; later runs leave existing accounts alone."""

import os
import secrets

from django.core.management.base import BaseCommand

from users.models import User

DEMO_USERS = (("alice", "Alice", "Archer"), ("bob", "Bob", "Baker"), ("carol", "Carol", "Cooper"))


class Command(BaseCommand):
    help = "Create the demo admin and demo users; passwords from DEMO_ADMIN_PASSWORD / DEMO_USER_PASSWORD, else generated and printed once."

    def handle(self, *args, **options):
        if not User.objects.filter(username="admin").exists():
            password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            User.objects.create_superuser("admin", "admin@example.com", password)
            shown = password if not os.environ.get("DEMO_ADMIN_PASSWORD") else "(from DEMO_ADMIN_PASSWORD)"
            self.stdout.write(self.style.SUCCESS(f"Created demo admin: username=admin password={shown}"))
        else:
            self.stdout.write("Demo admin exists; password unchanged.")
        missing = [u for u in DEMO_USERS if not User.objects.filter(username=u[0]).exists()]
        if not missing:
            return
        user_password = os.environ.get("DEMO_USER_PASSWORD") or secrets.token_urlsafe(12)
        for username, first, last in missing:
            User.objects.create_user(
                username, f"{username}@example.com", user_password, first_name=first, last_name=last
            )
        shown = user_password if not os.environ.get("DEMO_USER_PASSWORD") else "(from DEMO_USER_PASSWORD)"
        names = ", ".join(u[0] for u in missing)
        self.stdout.write(self.style.SUCCESS(f"Created demo users {names}: password={shown}"))
