"""What the tests expect of the API's surface: how times render, what an error body looks like, which writes ran."""

import re
from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """A time as the API renders it: ISO 8601 in UTC with a Z suffix."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def assert_json_error(response, status: int, code: str | None = None) -> dict:
    """The response is a JSON error `{detail, code, errors?}` with this status (and code, if given)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body, dict) and set(body) <= {"detail", "code", "errors"}, body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert isinstance(body["code"], str) and body["code"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def users_updates(captured) -> list[str]:
    """The UPDATE statements on the `users` table among a CaptureQueriesContext's queries."""
    # The ORM quotes the table; PostgreSQL's precompiled writes (users/presence/sql.py) do not.
    return [q["sql"] for q in captured.captured_queries if re.match(r'\s*UPDATE\s+"?users"?\s', q["sql"], re.I)]
