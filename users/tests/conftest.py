"""Fixtures for the users tests: a controllable presence clock, direct row access, crowds of users, logged-in devices, statements sent."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import PASSWORD
from users.models import User
from users.presence import clock as presence_clock
from users.presence import sql

LOGIN = "/api/users/login/"


class Clock:
    """Stands in for presence_clock.now(); starts at a whole second so API times compare exactly."""

    def __init__(self, start: datetime):
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> datetime:
        self.current += timedelta(seconds=seconds)
        return self.current

    def ago(self, seconds: float) -> datetime:
        return self.current - timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    """The time every presence read and write sees; `clock.advance(s)` moves it forward."""
    fake = Clock(timezone.now().replace(microsecond=0))
    monkeypatch.setattr(presence_clock, "now", fake)
    return fake


@pytest.fixture
def row():
    """Reload a user's row from the `users` table."""

    def reload(user) -> User:
        return User.objects.get(pk=user.pk)

    return reload


@pytest.fixture
def set_presence():
    """Write presence fields straight into the table, as if time had passed since they were set."""

    def write(user, **fields) -> None:
        User.objects.filter(pk=user.pk).update(**fields)

    return write


@pytest.fixture
def users_table():
    """A snapshot of every row's account and presence fields, to prove a request changed nothing."""

    def snapshot() -> list[tuple]:
        return list(
            User.objects.order_by("id").values_list(
                "id", "username", "password", "is_active", "is_staff", "online_status", "last_seen"
            )
        )

    return snapshot


@pytest.fixture
def crowd():
    """Bulk-create n extra users (no passwords) with the given presence fields."""

    def create(n: int, prefix: str = "crowd", **fields) -> list[User]:
        return User.objects.bulk_create(User(username=f"{prefix}{i}", **fields) for i in range(n))

    return create


@pytest.fixture
def capture_queries():
    """A CaptureQueriesContext on the default database."""
    return lambda: CaptureQueriesContext(connection)


@pytest.fixture
def device(api, clock):
    """Log `user` in from a device labelled `device_id`; returns an authenticated client with `.tokens`."""

    def log_in(user, device_id=""):
        body = {"username": user.username, "password": PASSWORD}
        if device_id:
            body["device_id"] = device_id
        response = api.post(LOGIN, body, format="json")
        assert response.status_code == 200, response.content
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
        client.tokens = response.json()
        return client

    return log_in


@pytest.fixture
def statements():
    """Run a call and name the statements it sent: presence/sql.py's constants by name (by identity), others as sent."""
    names = {id(text): name for name, text in vars(sql).items() if isinstance(text, str) and name.isupper()}
    names |= {id(text): f"USER_TOUCH[{active}]" for active, text in sql.USER_TOUCH.items()}

    def run(call) -> tuple[object, list[str], list[str]]:
        sent = []

        def record(execute, text, params, many, context):
            sent.append(text)
            return execute(text, params, many, context)

        with connection.execute_wrapper(record):
            result = call()
        sent = [text for text in sent if not text.upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
        return result, [names.get(id(text), text) for text in sent], sent

    return run
