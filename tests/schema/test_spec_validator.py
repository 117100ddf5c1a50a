"""The served OpenAPI schema is valid OpenAPI, by a validator nobody here wrote (openapi-spec-validator)."""

import pytest
import yaml
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def test_the_served_schema_is_valid_openapi(api):
    response = api.get("/api/schema/")
    assert response.status_code == 200
    validate(yaml.safe_load(response.content))
