"""The production settings: `check --deploy` is clean, secrets come only from the environment, CORS is an
explicit allow-list, and behind TLS the answers carry HSTS, secure cookies and the security headers."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, django
django.setup()
from django.conf import settings
from django.test import Client
c = Client()
https = c.get("/healthz", HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="api.example.com")
plain = c.get("/api/users/me/", HTTP_HOST="api.example.com")
allowed = c.options("/api/users/login/", HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="api.example.com",
                    HTTP_ORIGIN="https://app.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
evil = c.options("/api/users/login/", HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="api.example.com",
                 HTTP_ORIGIN="https://evil.example.net", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
print(json.dumps({
    "https_headers": {k: https.get(k) for k in ("Strict-Transport-Security", "X-Content-Type-Options",
                                               "Referrer-Policy", "X-Frame-Options", "Cross-Origin-Opener-Policy")},
    "plain_status": plain.status_code, "plain_location": plain.get("Location"),
    "allowed_origin": allowed.get("Access-Control-Allow-Origin"),
    "evil_origin": evil.get("Access-Control-Allow-Origin"),
    "cors_allow_all": getattr(settings, "CORS_ALLOW_ALL_ORIGINS", False),
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE, "csrf_cookie_secure": settings.CSRF_COOKIE_SECURE,
    "debug": settings.DEBUG,
}))
"""


def production_env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECRET_KEY", "DEBUG"))}
    env.update(
        DJANGO_SETTINGS_MODULE="offchat_backend.settings.production",
        SECRET_KEY=secrets.token_urlsafe(50),  # generated per run: no secret lives in the repository
        ALLOWED_HOSTS="api.example.com",
        CORS_ALLOWED_ORIGINS="https://app.example.com",
        OFFCHAT_VAR_DIR=str(tmp_path),
        **extra,
    )
    return env


def run(argv, env):
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean(tmp_path):
    result = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"], production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_production_refuses_to_start_without_secrets_from_the_environment(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    result = run([sys.executable, "manage.py", "check"], env)
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_behind_tls_answers_carry_hsts_secure_cookies_security_headers_and_a_strict_cors_list(tmp_path):
    result = run([sys.executable, "-c", PROBE], production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    headers = seen["https_headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    # Plain HTTP is redirected to HTTPS before any view runs.
    assert seen["plain_status"] == 301 and seen["plain_location"] == "https://api.example.com/api/users/me/"
    assert seen["session_cookie_secure"] and seen["csrf_cookie_secure"] and not seen["debug"]
    # CORS: the configured origin only.
    assert not seen["cors_allow_all"]
    assert seen["allowed_origin"] == "https://app.example.com"
    assert seen["evil_origin"] is None
