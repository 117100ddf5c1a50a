"""WSGI entry point for gunicorn; defaults to the production settings."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "offchat_backend.settings.production")
# Requests run under the statement and lock timeouts (settings/base.py); management commands do not.
os.environ.setdefault("OFFCHAT_SERVES_REQUESTS", "true")

application = get_wsgi_application()

from offchat_backend.postgresql.base import guard  # noqa: E402

guard()  # every database wait bounded, the breaker in front
