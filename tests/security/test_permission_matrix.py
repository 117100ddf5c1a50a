"""Every endpoint x {anonymous, user, staff, inactive user}: the status each gets, and no e-mail of another
user in any non-staff answer. A route added to the users API without a row here fails the completeness test."""

import pytest
from django.urls import URLPattern, URLResolver
from rest_framework.test import APIClient

import users.urls
from users.models import User

pytestmark = pytest.mark.django_db
ROLES = ("anon", "user", "staff", "inactive")

# (route name, method, path, body, {role: status}); {other} is another user's id.
AUTHENTICATED = {"anon": 401, "user": 200, "staff": 200, "inactive": 401}
STAFF_ONLY = {"anon": 401, "user": 403, "staff": 200, "inactive": 401}
PUBLIC = dict.fromkeys(ROLES, 200)
MATRIX = [
    ("login", "post", "/api/users/login/", "credentials", {"anon": 401, "user": 200, "staff": 200, "inactive": 401}),
    (
        "token-refresh",
        "post",
        "/api/users/token/refresh/",
        "refresh",
        {"anon": 401, "user": 200, "staff": 200, "inactive": 401},
    ),
    ("logout", "post", "/api/users/logout/", None, AUTHENTICATED),
    ("logout-all", "post", "/api/users/logout-all/", None, AUTHENTICATED),
    ("heartbeat", "post", "/api/users/heartbeat/", None, AUTHENTICATED),
    ("me", "get", "/api/users/me/", None, AUTHENTICATED),
    ("my-presence", "get", "/api/users/me/presence/", None, AUTHENTICATED),
    ("my-presence", "patch", "/api/users/me/presence/", {"invisible": True}, AUTHENTICATED),
    ("all-users", "get", "/api/users/all-users/", None, AUTHENTICATED),
    ("presence-feed", "get", "/api/users/presence/", None, AUTHENTICATED),
    ("admin-users-list", "get", "/api/users/admin/users/", None, STAFF_ONLY),
    (
        "admin-users-list",
        "post",
        "/api/users/admin/users/",
        {"username": "newbie", "password": "Brand-new-pass-91"},
        {**STAFF_ONLY, "staff": 201},
    ),
    ("admin-users-detail", "get", "/api/users/admin/users/{other}/", None, STAFF_ONLY),
    ("admin-users-detail", "patch", "/api/users/admin/users/{other}/", {"first_name": "Renamed"}, STAFF_ONLY),
    (
        "admin-users-detail",
        "put",
        "/api/users/admin/users/{other}/",
        {"username": "other", "first_name": "Put"},
        STAFF_ONLY,
    ),
    ("admin-users-online", "get", "/api/users/admin/users/online/", None, STAFF_ONLY),
    ("admin-users-deactivate", "post", "/api/users/admin/users/{other}/deactivate/", None, STAFF_ONLY),
    ("admin-users-activate", "post", "/api/users/admin/users/{other}/activate/", None, STAFF_ONLY),
    ("healthz", "get", "/healthz", None, PUBLIC),
    ("metrics", "get", "/metrics", None, PUBLIC),
    # The Django admin works with a staff session only; no JWT (nor anonymous caller) gets past its login page.
    ("admin", "get", "/admin/", None, dict.fromkeys(ROLES, 302)),
]
IDS = [f"{method} {path}" for _, method, path, _, _ in MATRIX]


def users_route_names() -> set[str]:
    names = set()
    for entry in users.urls.urlpatterns:
        assert isinstance(entry, URLPattern) and not isinstance(entry, URLResolver)
        names.add(entry.name)
    return names


def test_the_matrix_covers_every_route_of_the_users_api():
    assert users_route_names() <= {name for name, *_ in MATRIX}


@pytest.fixture
def people(make_user, login):
    """A caller per role (with tokens issued while active) and another user whose e-mail must not leak."""
    other = make_user(username="other", email="other-secret@example.com")
    callers = {
        "user": make_user(username="plain", email="plain@example.com"),
        "staff": make_user(username="chief", email="chief@example.com", is_staff=True),
        "inactive": make_user(username="gone", email="gone@example.com"),
    }
    tokens = {role: login(person) for role, person in callers.items()}
    User.objects.filter(pk=callers["inactive"].pk).update(is_active=False)
    return other, callers, tokens


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name, method, path, body, expected", MATRIX, ids=IDS)
def test_each_role_gets_exactly_its_rights(people, role, name, method, path, body, expected):
    other, callers, tokens = people
    client = APIClient()
    if role != "anon":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[role]['access']}")
    if body == "credentials":
        body = {"username": callers[role].username if role != "anon" else "stranger", "password": "Correct-horse-42"}
    elif body == "refresh":
        body = {"refresh": tokens[role]["refresh"] if role != "anon" else "not-a-token"}

    response = getattr(client, method)(path.format(other=other.pk), body, format="json")

    assert response.status_code == expected[role], response.content
    if role != "staff":
        # Non-staff never see another user's e-mail, in any answer.
        assert b"other-secret@example.com" not in response.content
    if response.status_code >= 400 and name not in ("admin",):
        assert response["Content-Type"].startswith("application/json")


def test_the_django_admin_refuses_a_non_staff_session(client, make_user):
    """Even logged in through the admin's own session login, a non-staff user gets no admin page."""
    plain = make_user(username="plain-session")
    client.force_login(plain)
    assert client.get("/admin/").status_code == 302
    chief = make_user(username="chief-session", is_staff=True, is_superuser=True)
    client.force_login(chief)
    assert client.get("/admin/").status_code == 200
