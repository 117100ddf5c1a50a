"""Login rate limits with the real (production-default) rates: per username and per IP, 429 with Retry-After."""

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from offchat_backend.settings import base
from users.tests.expectations import assert_json_error

pytestmark = pytest.mark.django_db
LOGIN = "/api/users/login/"


@pytest.fixture
def real_limits(settings):
    """The limits production runs with (the test settings raise them for the rest of the suite)."""
    settings.REST_FRAMEWORK = {
        **django_settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "login-ip": base.LOGIN_THROTTLE_IP_RATE,
            "login-username": base.LOGIN_THROTTLE_USERNAME_RATE,
        },
    }
    return {
        scope: int(rate.split("/")[0])
        for scope, rate in (("ip", base.LOGIN_THROTTLE_IP_RATE), ("username", base.LOGIN_THROTTLE_USERNAME_RATE))
    }


def attempt(client, username, password="wrong-password"):
    return client.post(LOGIN, {"username": username, "password": password}, format="json")


def test_guessing_one_username_from_many_addresses_is_limited_per_username(real_limits, make_user):
    make_user(username="target-per-name")
    statuses = [
        attempt(APIClient(REMOTE_ADDR=f"10.1.{n // 250}.{n % 250}"), "target-per-name").status_code
        for n in range(real_limits["username"])
    ]
    assert statuses == [401] * real_limits["username"]

    refused = attempt(APIClient(REMOTE_ADDR="10.2.0.1"), "TARGET-per-name")  # case does not buy a new budget
    assert_json_error(refused, 429, "throttled")
    assert 0 < int(refused["Retry-After"]) <= 60
    # The right password is refused too while the limit holds: the guesser cannot tell it was right.
    assert attempt(APIClient(REMOTE_ADDR="10.2.0.2"), "target-per-name", "Correct-horse-42").status_code == 429
    # Another account is not affected.
    assert attempt(APIClient(REMOTE_ADDR="10.2.0.3"), "someone-else").status_code == 401


def test_one_address_trying_many_usernames_is_limited_per_ip(real_limits):
    client = APIClient(REMOTE_ADDR="10.3.0.1")
    statuses = [attempt(client, f"spray{n}").status_code for n in range(real_limits["ip"])]
    assert statuses == [401] * real_limits["ip"]

    refused = attempt(client, "spray-last")
    assert_json_error(refused, 429, "throttled")
    assert int(refused["Retry-After"]) > 0
    assert attempt(APIClient(REMOTE_ADDR="10.3.0.2"), "spray-other").status_code == 401


def test_a_forged_x_forwarded_for_does_not_buy_a_new_ip_budget(real_limits):
    """With NUM_PROXIES=0 the limit keys on REMOTE_ADDR, whatever X-Forwarded-For claims."""
    for n in range(real_limits["ip"]):
        attempt(APIClient(REMOTE_ADDR="10.4.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}"), f"xff{n}")
    forged = APIClient(REMOTE_ADDR="10.4.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert attempt(forged, "xff-last").status_code == 429
