"""Create the demo admin, the walkthrough's users and the accounts the demo player plays; apply passwords set in the env."""

import os
import secrets

from django.core.management.base import BaseCommand

from users.models import User

# The README's walkthrough logs in as these: the demo player never touches them.
DEMO_USERS = (("alice", "Alice", "Archer"), ("bob", "Bob", "Baker"), ("carol", "Carol", "Cooper"))
# Played by `manage.py demo_presence`, so the list has life in it; nobody logs in as them.
PLAYED_USERS = (("demo-dan", "Dan", "Demo"), ("demo-eve", "Eve", "Demo"), ("demo-fay", "Fay", "Demo"))


class Command(BaseCommand):
    help = (
        "Create the demo admin and users; DEMO_ADMIN_PASSWORD / DEMO_USER_PASSWORD set their passwords "
        "(also of existing accounts), else new ones are generated and printed once."
    )

    def handle(self, *args, **options):
        admin_password = os.environ.get("DEMO_ADMIN_PASSWORD")
        user_password = os.environ.get("DEMO_USER_PASSWORD")
        if not User.objects.filter(username="admin").exists():
            password = admin_password or secrets.token_urlsafe(12)
            User.objects.create_superuser("admin", "admin@example.com", password)
            shown = "(from DEMO_ADMIN_PASSWORD)" if admin_password else password
            self.stdout.write(self.style.SUCCESS(f"Created demo admin: username=admin password={shown}"))
        elif admin_password:
            self._set_password(["admin"], admin_password)
            self.stdout.write("Demo admin exists; password set from DEMO_ADMIN_PASSWORD.")
        else:
            self.stdout.write(
                "Demo admin exists; password unchanged (set DEMO_ADMIN_PASSWORD, or run "
                "`python manage.py changepassword admin`)."
            )
        self._users(DEMO_USERS, user_password, "DEMO_USER_PASSWORD")
        self._users(PLAYED_USERS, None, None)  # nobody logs in as them: a password no one knows

    def _users(self, users, password, variable):
        names = [u[0] for u in users]
        existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
        missing = [u for u in users if u[0] not in existing]
        if password and existing:
            self._set_password(sorted(existing), password)
            self.stdout.write(f"Demo users {', '.join(sorted(existing))}: password set from {variable}.")
        elif existing and variable:
            self.stdout.write(
                f"Demo users {', '.join(sorted(existing))} exist; passwords unchanged (set {variable}, or run "
                "`python manage.py changepassword <name>`)."
            )
        if not missing:
            return
        chosen = password or secrets.token_urlsafe(12)
        for username, first, last in missing:
            User.objects.create_user(username, f"{username}@example.com", chosen, first_name=first, last_name=last)
        if variable:
            shown = f"(from {variable})" if password else chosen
            names = ", ".join(u[0] for u in missing)
            self.stdout.write(self.style.SUCCESS(f"Created demo users {names}: password={shown}"))

    @staticmethod
    def _set_password(usernames, password):
        for user in User.objects.filter(username__in=usernames):
            user.set_password(password)
            user.save(update_fields=["password"])
