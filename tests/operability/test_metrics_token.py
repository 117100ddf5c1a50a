"""METRICS_BEARER_TOKEN: /metrics is open without it, and answers only a scraper sending it when set."""

import pytest

pytestmark = pytest.mark.django_db

TOKEN = "scrape-Token-7f3a9c0e5b"
REFUSED = {
    None: {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"},
    f"Token {TOKEN}": {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"},
    "Bearer ": {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"},
    "Bearer wrong-token": {"detail": "Incorrect authentication credentials.", "code": "authentication_failed"},
    f"Bearer {TOKEN}x": {"detail": "Incorrect authentication credentials.", "code": "authentication_failed"},
    f"Bearer {TOKEN[:-1]}": {"detail": "Incorrect authentication credentials.", "code": "authentication_failed"},
    "Bearer é-not-ascii": {"detail": "Incorrect authentication credentials.", "code": "authentication_failed"},
}


def get_metrics(api, authorization=None):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    return api.get("/metrics", **headers)


def shown(response) -> str:
    """Everything the caller receives: headers and body."""
    return "".join(f"{name}: {value}\n" for name, value in response.items()) + response.content.decode()


def test_metrics_are_open_when_no_token_is_configured(api, settings):
    """Empty is the default and what compose passes for an unset variable (`${METRICS_BEARER_TOKEN:-}`)."""
    settings.METRICS_BEARER_TOKEN = ""

    response = get_metrics(api)

    assert response.status_code == 200
    assert "offchat_users_online" in response.content.decode()


@pytest.mark.parametrize("authorization", list(REFUSED))
def test_without_the_right_token_metrics_answer_401_json(api, settings, authorization):
    settings.METRICS_BEARER_TOKEN = TOKEN

    response = get_metrics(api, authorization)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json() == REFUSED[authorization]
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "offchat_" not in response.content.decode()
    assert TOKEN not in shown(response)


def test_with_the_right_token_metrics_answer_200(api, settings):
    settings.METRICS_BEARER_TOKEN = TOKEN

    response = get_metrics(api, f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert "offchat_users_online" in response.content.decode()
    assert TOKEN not in shown(response)


def test_the_scheme_is_case_insensitive(api, settings):
    """RFC 7235: `bearer` and `Bearer` name the same scheme."""
    settings.METRICS_BEARER_TOKEN = TOKEN

    assert get_metrics(api, f"bearer {TOKEN}").status_code == 200
