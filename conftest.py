"""Shared pytest fixtures: users, tokens and API clients."""

import itertools

import pytest
from rest_framework.test import APIClient

PASSWORD = "Correct-horse-42"
_names = itertools.count()


@pytest.fixture(autouse=True)
def process_just_started(monkeypatch):
    """Each test's server process has just started, as far as /readyz's "beat starting" window is concerned."""
    from django.utils import timezone

    from offchat_backend import health

    monkeypatch.setattr(health, "STARTED_AT", timezone.now())


@pytest.fixture
def make_user(django_user_model):
    """Create a user; keyword arguments override the defaults."""

    def make(**fields):
        n = next(_names)
        fields.setdefault("username", f"user{n}")
        fields.setdefault("email", f"{fields['username']}@example.com")
        password = fields.pop("password", PASSWORD)
        return django_user_model.objects.create_user(password=password, **fields)

    return make


@pytest.fixture
def user(make_user):
    return make_user(username="alice", first_name="Alice", last_name="Archer")


@pytest.fixture
def staff(make_user):
    return make_user(username="boss", is_staff=True)


@pytest.fixture
def api():
    """An anonymous API client."""
    return APIClient()


@pytest.fixture
def login(api):
    """Log a user in through the API; returns the login response body (tokens, user, presence)."""

    def do_login(user, password=PASSWORD):
        response = api.post("/api/users/login/", {"username": user.username, "password": password}, format="json")
        assert response.status_code == 200, response.content
        return response.json()

    return do_login


@pytest.fixture
def client_for(login):
    """An API client authenticated as the given user, with its tokens on `.tokens`."""

    def make_client(user):
        tokens = login(user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        client.tokens = tokens
        return client

    return make_client
