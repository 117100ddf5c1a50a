"""GET /api/schema/ (OpenAPI 3 of every endpoint, its auth and its JSON errors) and the offline Swagger UI at /api/docs/."""

import re

import pytest
from django.contrib.staticfiles import finders
from drf_spectacular.validation import validate_schema

from users.tests.expectations import assert_json_error

pytestmark = pytest.mark.django_db
ERROR_REF = "#/components/schemas/Error"
# Every route of the users API, and the methods it answers.
OPERATIONS = {
    "/api/users/login/": {"post"},
    "/api/users/logout/": {"post"},
    "/api/users/logout-all/": {"post"},
    "/api/users/token/refresh/": {"post"},
    "/api/users/heartbeat/": {"post"},
    "/api/users/me/": {"get"},
    "/api/users/me/presence/": {"get", "patch"},
    "/api/users/presence/": {"get"},
    "/api/users/all-users/": {"get"},
    "/api/users/admin/users/": {"get", "post"},
    "/api/users/admin/users/{id}/": {"get", "put", "patch"},
    "/api/users/admin/users/{id}/activate/": {"post"},
    "/api/users/admin/users/{id}/deactivate/": {"post"},
    "/api/users/admin/users/online/": {"get"},
}
PUBLIC = {"/api/users/login/", "/api/users/token/refresh/"}


@pytest.fixture
def schema(api):
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_schema_is_valid_openapi_3_served_to_anyone(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on any violation of the OpenAPI 3 JSON schema


def test_the_schema_describes_every_endpoint_and_method(schema):
    assert {path: set(item) for path, item in schema["paths"].items()} == OPERATIONS


def test_every_protected_operation_requires_the_bearer_jwt_and_the_public_ones_do_not(schema):
    assert schema["components"]["securitySchemes"]["jwtAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    for path, method, operation in operations(schema):
        schemes = {name for requirement in operation.get("security", []) for name in requirement}
        if path in PUBLIC:
            # No requirement at all: `[{}]` (anonymous allowed) makes generated clients demand a token.
            assert operation.get("security", []) == [], (path, method)
        else:
            assert schemes == {"jwtAuth"}, (path, method)
            assert "401" in operation["responses"], (path, method)


def test_every_error_answer_has_the_json_error_body(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"detail", "code", "errors"}
    assert set(error["required"]) == {"detail", "code"}
    for path, method, operation in operations(schema):
        errors = {code: body for code, body in operation["responses"].items() if code >= "400"}
        assert errors, (path, method)
        for code, body in errors.items():
            assert body["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (path, method, code)
            assert body["description"], (path, method, code)


def test_staff_routes_document_403_and_object_routes_404(schema):
    for path, method, operation in operations(schema):
        assert ("403" in operation["responses"]) == path.startswith("/api/users/admin/"), (path, method)
        assert ("404" in operation["responses"]) == ("{id}" in path), (path, method)


def test_the_login_answer_documents_the_presence_intervals_and_the_socket(schema):
    login = schema["paths"]["/api/users/login/"]["post"]["responses"]
    assert login["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/LoginResponse"}
    assert set(login) >= {"200", "400", "401"}
    presence = schema["components"]["schemas"]["PresenceSettings"]["properties"]
    assert set(presence) == {
        "heartbeat_seconds",
        "refresh_seconds",
        "timeout_seconds",
        "idle_seconds",
        "websocket",
        "watch_max",
    }


def test_the_presence_model_is_documented(schema):
    """The three statuses, the heartbeat state, the feed with its cursor, invisible mode and the list's ETag."""
    components = schema["components"]["schemas"]
    entry = components["AllUsersEntry"]["properties"]
    assert "invisible" in entry
    status_enum = next(s for name, s in components.items() if set(s.get("enum", [])) == {"online", "away", "offline"})
    assert status_enum
    assert "state" in components["HeartbeatRequest"]["properties"]
    assert any(set(s.get("enum", [])) == {"active", "idle"} for s in components.values())
    feed = schema["paths"]["/api/users/presence/"]["get"]
    assert {p["name"] for p in feed["parameters"]} == {"since", "users"}
    assert set(components["PresenceFeed"]["properties"]) == {"cursor", "full", "users"}
    presence = schema["paths"]["/api/users/me/presence/"]["patch"]
    assert presence["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PresenceVisibilityRequest"
    }
    assert components["PresenceVisibilityRequest"]["required"] == ["invisible"]
    assert set(components["OwnPresence"]["properties"]) == {"online_status", "invisible", "sessions"}
    all_users = schema["paths"]["/api/users/all-users/"]["get"]
    assert "304" in all_users["responses"] and "If-None-Match" in {p["name"] for p in all_users["parameters"]}


def test_the_documented_error_shape_is_what_the_api_answers(schema, api):
    """A real 401 and a real 400 carry exactly the documented fields."""
    documented = set(schema["components"]["schemas"]["Error"]["properties"])
    unauthenticated = assert_json_error(api.get("/api/users/me/"), 401, "not_authenticated")
    invalid = assert_json_error(api.post("/api/users/login/", {}, format="json"), 400)

    assert set(unauthenticated) == documented - {"errors"}
    assert set(invalid) == documented


def test_swagger_ui_is_served_from_this_server_only(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/schema/" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets), assets
    for asset in assets:
        assert asset.startswith("/static/drf_spectacular_sidecar/"), asset  # no CDN
        assert finders.find(asset.removeprefix("/static/")), asset


def test_the_schema_says_what_the_server_requires_and_always_sends(schema):
    components = schema["components"]["schemas"]
    assert "password" in components["AdminUserCreateRequest"]["required"]
    assert "password" not in components["AdminUserUpdateRequest"].get("required", [])
    for name in ("User", "AdminUser"):
        assert set(components[name]["required"]) >= {"email", "first_name", "last_name", "online_status"}
        online_status = components[name]["properties"]["online_status"]
        ref = online_status.get("$ref") or online_status["allOf"][0]["$ref"]
        assert set(components[ref.rsplit("/", 1)[1]]["enum"]) == {"online", "away", "offline"}
    login_401 = schema["paths"]["/api/users/login/"]["post"]["responses"]["401"]["description"]
    assert "no_active_account" in login_401


def test_every_operation_documents_the_answers_and_headers_a_client_meets(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if not path.startswith("/api/users/"):
                continue
            responses = operation["responses"]
            assert {"405", "503"} <= set(responses), (method, path)
            assert "Retry-After" in responses["503"].get("headers", {}), (method, path)
            if method in ("post", "put", "patch") and "requestBody" in operation:
                assert "413" in responses, (method, path)
            if method == "get":
                assert "Cache-Control" in responses["200"].get("headers", {}), (method, path)
    all_users = schema["paths"]["/api/users/all-users/"]["get"]["responses"]
    assert "ETag" in all_users["200"]["headers"] and "ETag" in all_users["304"]["headers"]
