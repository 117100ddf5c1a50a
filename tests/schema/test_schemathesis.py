"""schemathesis against /api/schema/: generated requests to every operation, positive and negative, and chains along
the links it infers, a bounded number of examples each, under every check it has; the rest are documented exceptions."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis import checks
from schemathesis.generation import GenerationMode

from users.auth import revocation
from users.models import User

MAX_EXAMPLES = 30
# Both tests: a bounded number of examples, no timing, nothing carried between runs.
BOUNDED = hypothesis_settings(
    max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


@pytest.fixture
def api_schema(db, staff_token):
    """The live schema, loaded through the WSGI app, every generated request authenticated as staff."""
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content[:500]
    # The raw WSGI app closes database connections as each request starts and ends (Django's test
    # Client suspends that the same way): the test's transaction must survive every generated request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
        schema.config.generation.update(allow_x00=False)

        # An auth provider, not a header: ignored_auth then knows what to strip or spoil.
        @schema.auth(refresh_interval=None)
        class StaffAuth:
            def get(self, case, context):
                return staff_token()

            def set(self, case, token, context):
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}

        yield schema
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


# Every check schemathesis 4 has (max_response_time aside: timings are the benchmarks' business).
ALL_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
    checks.positive_data_acceptance,
    checks.use_after_free,
    checks.ensure_resource_availability,
    checks.ignored_auth,
    checks.missing_required_header,
    checks.unsupported_method,
]
# Checks left out where a schema cannot say why the server refuses; (method, path, check) -> why ("*": any).
# Generated text never holds NUL (allow_x00 off): Django refuses it in any text field by design.
ACCOUNT_RULES = (
    "Schema-valid accounts the server rightly refuses: a username already taken, a password failing "
    "AUTH_PASSWORD_VALIDATORS (too common, too similar to the username, all digits)."
)
NEVER_ISSUED = "Schema-valid strings that are no token or cursor this server issued: a 400 naming the field is right."
EXCEPTIONS = {
    ("POST", "/api/users/admin/users/", "positive_data_acceptance"): ACCOUNT_RULES,
    ("PUT", "/api/users/admin/users/{id}/", "positive_data_acceptance"): ACCOUNT_RULES,
    ("PATCH", "/api/users/admin/users/{id}/", "positive_data_acceptance"): ACCOUNT_RULES,
    ("POST", "/api/users/admin/users/{id}/deactivate/", "positive_data_acceptance"): (
        "Staff may not deactivate themselves (users/services/accounts.py): a 400 when the generated id is theirs."
    ),
    ("POST", "/api/users/logout/", "positive_data_acceptance"): NEVER_ISSUED,
    ("POST", "/api/users/token/refresh/", "positive_data_acceptance"): NEVER_ISSUED,
    ("GET", "/api/users/presence/", "positive_data_acceptance"): NEVER_ISSUED,
    ("GET", "*", "negative_data_rejection"): (
        "Unknown query parameters are ignored, as HTTP APIs customarily do (cache busters, tracing ids); "
        "every documented parameter with a wrong value is a 400 (users/tests/test_api_errors.py)."
    ),
}


def excepted_for(method: str, path: str) -> list:
    keys = {(m, p) for m in (method.upper(), "*") for p in (path, "*")}
    return [check for check in ALL_CHECKS if any((m, p, check.__name__) in EXCEPTIONS for m, p in keys)]


@pytest.fixture
def staff_token(db):
    """A fresh staff session per generated request: generated logouts and refreshes must not starve the rest."""
    staff = User.objects.create_user("schema-staff", password="Schema-staff-91", is_staff=True)

    def issue() -> str:
        refresh = RefreshToken.for_user(staff)
        refresh[revocation.SESSION_CLAIM] = refresh["jti"]
        return str(refresh.access_token)

    return issue


def test_no_server_error_and_every_answer_conforms_to_the_schema(api_schema):
    """Every operation, MAX_EXAMPLES positive and as many negative generated requests each, under ALL_CHECKS."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]

    failures = {}
    for operation, mode in [(op, mode) for op in operations for mode in GenerationMode]:

        @given(case=operation.as_strategy(generation_mode=mode))
        @BOUNDED
        def run(case):
            case.call_and_validate(
                checks=ALL_CHECKS,
                excluded_checks=excepted_for(case.method, case.operation.path),
            )

        try:
            run()
        except (AssertionError, BaseExceptionGroup, Exception) as exc:  # noqa: BLE001 - all failures reported together
            failures[f"{operation.label} ({mode.value})"] = (
                str(exc).strip().splitlines()[0]
                + "\n"
                + "\n".join(line for line in str(exc).splitlines() if line.strip())[:3000]
            )
    assert not failures, "\n\n".join(f"{label}: {text}" for label, text in failures.items())


def test_linked_sequences_conform_too(api_schema):
    """Stateful: chains along the links schemathesis infers (a created or listed user read, updated, deactivated,
    activated), under the same checks and exceptions."""
    calls = []

    class Workflow(api_schema.as_state_machine()):
        def setup(self):
            # Each scenario starts from the same rows, so hypothesis can replay and shrink one faithfully.
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def after_call(self, response, case):
            calls.append((case.method, case.operation.path, response.status_code))

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(
                response,
                checks=ALL_CHECKS,
                excluded_checks=excepted_for(case.method, case.operation.path),
                transport_kwargs=kwargs,
            )

    Workflow.run(settings=hypothesis_settings(BOUNDED, stateful_step_count=6))

    # An id one answer gave was used by a later call and found: the links were followed, not only random calls.
    linked = [(method, path) for method, path, status in calls if "{id}" in path and 200 <= status < 300]
    assert linked, calls
