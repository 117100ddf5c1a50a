"""Create the first admin from DJANGO_SUPERUSER_USERNAME / _EMAIL / _PASSWORD, once; a no-op when they are unset."""

import os

from django.core.management.base import BaseCommand

from users.models import User


class Command(BaseCommand):
    help = "Create the superuser named by DJANGO_SUPERUSER_USERNAME (with _EMAIL, _PASSWORD) unless it exists."

    def handle(self, *args, **options):
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME")
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if not username or not password:
            self.stdout.write(
                "No first admin created: set DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD "
                "(and DJANGO_SUPERUSER_EMAIL), or run `python manage.py createsuperuser`."
            )
            return
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"Admin {username} exists; left as it is.")
            return
        User.objects.create_superuser(username, os.environ.get("DJANGO_SUPERUSER_EMAIL", ""), password)
        self.stdout.write(self.style.SUCCESS(f"Created admin {username}."))
