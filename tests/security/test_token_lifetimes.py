"""Token lifetimes: access 5 minutes, refresh rotated and blacklisted after one use, logout revokes the
session's access token; each lifetime configurable from the environment."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt import tokens as jwt_tokens
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.security.test_production_settings import ROOT

pytestmark = pytest.mark.django_db
REFRESH = "/api/users/token/refresh/"


def lifetime(token) -> timedelta:
    return timedelta(seconds=token["exp"] - token["iat"])


def test_access_lives_five_minutes_and_refresh_one_day_by_default(user, login):
    tokens = login(user)
    assert lifetime(AccessToken(tokens["access"])) == timedelta(minutes=5)
    assert lifetime(RefreshToken(tokens["refresh"])) == timedelta(days=1)


def test_an_access_token_is_accepted_for_five_minutes_and_refused_after(user, login, monkeypatch):
    tokens = login(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    # The token's own iat, not the time it is decoded here: on a busy machine those differ by a second.
    issued = datetime.fromtimestamp(AccessToken(tokens["access"])["iat"], tz=UTC)

    monkeypatch.setattr(jwt_tokens, "aware_utcnow", lambda: issued + timedelta(seconds=299))
    assert client.get("/api/users/me/").status_code == 200
    monkeypatch.setattr(jwt_tokens, "aware_utcnow", lambda: issued + timedelta(seconds=301))
    assert client.get("/api/users/me/").json()["code"] == "token_not_valid"


def test_a_refresh_token_works_once_then_is_blacklisted(user, login, api):
    tokens = login(user)
    first = api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert first.status_code == 200 and first.json()["refresh"] != tokens["refresh"]
    assert api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401
    assert api.post(REFRESH, {"refresh": first.json()["refresh"]}, format="json").status_code == 200


def test_logout_revokes_the_access_token_of_the_session_and_its_refresh_token(user, login, api):
    tokens = login(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.post("/api/users/logout/", {"refresh": tokens["refresh"]}, format="json").status_code == 200
    assert client.get("/api/users/me/").status_code == 401
    assert api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401


def test_each_lifetime_is_read_from_the_environment(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(int(s.SIMPLE_JWT['ACCESS_TOKEN_LIFETIME'].total_seconds()), "
        "int(s.SIMPLE_JWT['REFRESH_TOKEN_LIFETIME'].total_seconds()))"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "offchat_backend.settings.development",
        "JWT_ACCESS_TOKEN_SECONDS": "60",
        "JWT_REFRESH_TOKEN_SECONDS": "3600",
        "PATH": "/usr/bin:/bin",
        "OFFCHAT_VAR_DIR": str(tmp_path),
    }
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["60", "3600"], out.stderr
