"""No user enumeration at login: an unknown user, a wrong password and an inactive account look the same,
in status, body and time (Django's ModelBackend hashes a password for unknown users too)."""

import statistics
import time

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db
LOGIN = "/api/users/login/"
SAMPLES = 15


class MeasurablePBKDF2(PBKDF2PasswordHasher):
    """Real PBKDF2, fewer rounds: slow enough (~10-30 ms) to dwarf request noise, fast enough for CI."""

    algorithm = "pbkdf2_sha256_measurable"
    iterations = 60_000


@pytest.fixture
def real_hasher(settings):
    settings.PASSWORD_HASHERS = ["tests.security.test_login_enumeration.MeasurablePBKDF2"]


CASES = {
    "unknown user": {"username": "nobody-here", "password": "Correct-horse-42"},
    "wrong password": {"username": "known", "password": "not-the-password"},
    "inactive account": {"username": "sleeper", "password": "Correct-horse-42"},
}


def test_unknown_user_wrong_password_and_inactive_account_answer_alike(real_hasher, make_user):
    make_user(username="known")
    make_user(username="sleeper", is_active=False)
    client = APIClient()

    answers = {name: client.post(LOGIN, body, format="json") for name, body in CASES.items()}

    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(CASES, 401)
    bodies = {name: r.content for name, r in answers.items()}
    assert len(set(bodies.values())) == 1, bodies


def test_unknown_users_take_as_long_as_wrong_passwords(real_hasher, make_user):
    make_user(username="known")
    client = APIClient()

    def median_seconds(body) -> float:
        durations = []
        for _ in range(SAMPLES):
            started = time.perf_counter()
            assert client.post(LOGIN, body, format="json").status_code == 401
            durations.append(time.perf_counter() - started)
        return statistics.median(durations)

    median_seconds(CASES["wrong password"])  # warm-up: imports, first queries
    unknown, wrong = median_seconds(CASES["unknown user"]), median_seconds(CASES["wrong password"])

    # Without the dummy hash an unknown user would answer in a fraction of the hashing time.
    print(f"median login: unknown user {unknown * 1000:.1f} ms, wrong password {wrong * 1000:.1f} ms")
    # Bounds wide enough for a loaded CI machine; without the dummy hash the ratio is ~0.05.
    assert 0.5 < unknown / wrong < 2.0, (unknown, wrong)
