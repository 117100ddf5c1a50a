"""Unit-test settings: eager Celery, a fast hasher, and a test database other processes can open."""

import uuid

from .base import *  # noqa: F403
from .base import CACHES, DATABASES, REDIS_URL, REST_FRAMEWORK, VAR_DIR

SECRET_KEY = "test-only-secret-key-0123456789abcdef0123456789abcdef"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Unit tests run tasks inline; the live-worker tests start a real worker with development settings.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True

if REDIS_URL:
    # A fresh prefix per run keeps one run's revocations and counters out of the next.
    CACHES["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex[:8]}"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so a live server or worker in another process sees the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}

# The test process itself never bounds its database waits (guard() does nothing), even when a test
# imports asgi.py: a fault test that breaks a connection must not open a breaker for the tests after it.
# The servers and workers the live suites start run the real settings.
DB_CLIENT_DEADLINE_SECONDS = None

# Login limits high enough for the suite's many logins from one address; tests/security sets real ones.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"login-ip": "100000/min", "login-username": "100000/min"},
}
