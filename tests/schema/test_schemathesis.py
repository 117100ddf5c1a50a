"""schemathesis against /api/schema/: generated requests to every operation, a bounded number of examples
each; no 5xx, and every response conforms to the schema (status code, content type, body)."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis import checks

from users.auth import revocation
from users.models import User

MAX_EXAMPLES = 15


@pytest.fixture
def api_schema(db):
    """The live schema, loaded through the WSGI app."""
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content[:500]
    # The raw WSGI app closes database connections as each request starts and ends (Django's test
    # Client suspends that the same way): the test's transaction must survive every generated request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


# What the issue asks: zero 5xx, and answers that conform to the schema. Whether the schema's request
# bodies are exact enough for schemathesis to predict every 400 (positive_data_acceptance and
# friends) is the schema's own test's business.
RESPONSE_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def staff_token(db):
    """A fresh staff session per generated request: generated logouts and refreshes must not starve the rest."""
    staff = User.objects.create_user("schema-staff", password="Schema-staff-91", is_staff=True)

    def issue() -> str:
        refresh = RefreshToken.for_user(staff)
        refresh[revocation.SESSION_CLAIM] = refresh["jti"]
        return str(refresh.access_token)

    return issue


def test_no_server_error_and_every_answer_conforms_to_the_schema(api_schema, staff_token):
    """Every operation, MAX_EXAMPLES generated requests each, run through schemathesis's default checks
    (RESPONSE_CHECKS)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]

    failures = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {staff_token()}"}, checks=RESPONSE_CHECKS)

        try:
            run()
        except (AssertionError, BaseExceptionGroup, Exception) as exc:  # noqa: BLE001 - all failures reported together
            failures[operation.label] = (
                str(exc).strip().splitlines()[0]
                + "\n"
                + "\n".join(
                    line for line in str(exc).splitlines() if "Error" in line or "is not" in line or "Expected" in line
                )[:1500]
            )
    assert not failures, "\n\n".join(f"{label}: {text}" for label, text in failures.items())
