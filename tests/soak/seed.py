"""Soak seeding, run with `manage.py shell`: N users and the admins, each with a live session; tokens to a JSON file.

Sessions are opened through the services (start_session), as a login would, without paying N password
hashes up front: the soak measures presence traffic; the users who leave and rejoin log in through the API.
"""

import json
import os

from django.contrib.auth.hashers import make_password

from users.auth.logins import log_in
from users.models import User

users, admins = int(os.environ["SOAK_USERS"]), int(os.environ["SOAK_ADMINS"])
password = os.environ["SOAK_PASSWORD"]
hashed = make_password(password)  # one hash shared by every soak account
User.objects.filter(username__startswith="soak-").delete()
User.objects.bulk_create(
    [User(username=f"soak-user-{n}", password=hashed) for n in range(users)]
    + [User(username=f"soak-admin-{n}", password=hashed, is_staff=True) for n in range(admins)]
)
sessions = {}
for account in User.objects.filter(username__startswith="soak-").order_by("id"):
    refresh = log_in(account)
    sessions[account.username] = {"access": str(refresh.access_token), "refresh": str(refresh)}
with open(os.environ["SOAK_TOKENS"], "w") as out:
    json.dump(sessions, out)
print(f"seeded {users} users and {admins} admins")
