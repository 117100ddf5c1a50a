"""Settings shared by every environment; every knob is read from the environment and named once."""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Runtime files of the embedded defaults (SQLite, file broker, file cache); never committed.
VAR_DIR = Path(environ.Env().str("OFFCHAT_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "daphne",  # first: its runserver serves HTTP and the presence socket on one port
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_celery_beat",
    "django_prometheus",
    "drf_spectacular",
    "channels",
    "drf_spectacular_sidecar",  # Swagger UI's assets, served from here instead of a CDN
    "users",
    "dashboard",
]

MIDDLEWARE = [
    # First and last: times every request, whatever answers it.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Before anything reads the body: the JSON 413 also under DEBUG, where Django's own is an HTML page.
    "users.api_errors.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "users.middleware.PresenceTouchMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "offchat_backend.unavailable.DatabaseUnavailableMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "offchat_backend.urls"
WSGI_APPLICATION = "offchat_backend.wsgi.application"
ASGI_APPLICATION = "offchat_backend.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
# Persistent connections are checked before reuse, so a restarted database heals by itself.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A fault that hangs is worse than one that refuses: new connections, statements and lock waits all
# have a bound on PostgreSQL. Past it, a request gets a JSON 503 with Retry-After
# (offchat_backend/unavailable.py) and its transaction rolls back whole. Presence's best-effort writes
# never wait at all (FOR UPDATE SKIP LOCKED); logins, logouts and heartbeats wait at most the lock timeout.
DB_CONNECT_TIMEOUT_SECONDS = env.int("DB_CONNECT_TIMEOUT_SECONDS", default=3)
DB_STATEMENT_TIMEOUT_SECONDS = env.float("DB_STATEMENT_TIMEOUT_SECONDS", default=10)
PRESENCE_LOCK_TIMEOUT_SECONDS = env.float("PRESENCE_LOCK_TIMEOUT_SECONDS", default=2)
# The server enforces the two timeouts above only while it runs. The web servers, the worker and beat
# also give up on the client side (offchat_backend/postgresql/base.py): any connect, query or commit
# past this deadline closes its connection; a little above the statement timeout, so a server that
# runs cancels first and keeps the connection. Unset or empty (compose passes it through): that default.
DB_CLIENT_DEADLINE_SECONDS = float(
    env.str("DB_CLIENT_DEADLINE_SECONDS", default="") or DB_STATEMENT_TIMEOUT_SECONDS + 1
)
# After a lost connection or a missed deadline, database calls fail at once (JSON 503) this long,
# then one probe tries (offchat_backend/db_breaker.py).
DB_BREAKER_OPEN_SECONDS = env.float("DB_BREAKER_OPEN_SECONDS", default=5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "offchat_backend.postgresql"
# Server processes only (offchat_backend/asgi.py and wsgi.py set the flag): migrations, the benchmarks'
# bulk loads and the worker's sweep may rightly take longer than a request may.
if DATABASES["default"]["ENGINE"] == "offchat_backend.postgresql" and env.bool("OFFCHAT_SERVES_REQUESTS", False):
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        connect_timeout=DB_CONNECT_TIMEOUT_SECONDS,
        options=(
            f"-c statement_timeout={int(DB_STATEMENT_TIMEOUT_SECONDS * 1000)}"
            f" -c lock_timeout={int(PRESENCE_LOCK_TIMEOUT_SECONDS * 1000)}"
        ),
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # The web process and the Celery worker write the same file: WAL lets readers run
    # beside a writer, and IMMEDIATE transactions wait for the lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

AUTH_USER_MODEL = "users.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Cache (access-token revocation list) ---------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# After a failed Redis call, the web process skips Redis for this long, then lets one probe through.
REDIS_BREAKER_OPEN_SECONDS = env.float("REDIS_BREAKER_OPEN_SECONDS", default=5)
if REDIS_URL:
    # Short socket timeouts: a dead or hung Redis costs a request at most this long before the
    # callers fall back (revocations to the database, throttles to a per-process count).
    CACHES = {
        "default": {
            # Django's RedisCache, minus the redis-py client it builds on every call (docs/BENCHMARKS.md).
            "BACKEND": "offchat_backend.redis_cache.ReusedClientRedisCache",
            "LOCATION": REDIS_URL,
            # No retries: redis-py's default (10, with backoff) made a stalled Redis cost 9 s a call.
            # The breaker (offchat_backend/redis_breaker.py) retries instead, once per open period.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5, "retry": Retry(NoBackoff(), 0)},
        }
    }
else:
    # A file cache is shared by every local process, unlike the in-memory default.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Channel layer (the presence socket's cross-process messages) ----------
if REDIS_URL:
    # socket_timeout above the layer's 5 s blocking pop: redis-py's default equals it, and
    # channels-redis 4.3 then kills consumers with TimeoutError after 5 s.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 10, "socket_connect_timeout": 0.5}],
                "prefix": "offchat",
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Presence -------------------------------------------------------------
PRESENCE_TIMEOUT_SECONDS = env.int("PRESENCE_TIMEOUT_SECONDS", default=120)
PRESENCE_SWEEP_SECONDS = env.int("PRESENCE_SWEEP_SECONDS", default=60)
PRESENCE_TOUCH_SECONDS = env.int("PRESENCE_TOUCH_SECONDS", default=15)
PRESENCE_HEARTBEAT_SECONDS = env.int("PRESENCE_HEARTBEAT_SECONDS", default=30)
PRESENCE_REFRESH_SECONDS = env.int("PRESENCE_REFRESH_SECONDS", default=10)
# The presence socket (docs/PRESENCE.md): how often each server process reads the feed and pushes
# it, how long a new socket has to authenticate, and how long a closed session's last socket may
# stay away (a page reload) before the session stops counting.
PRESENCE_PUSH_SECONDS = env.float("PRESENCE_PUSH_SECONDS", default=0.5)
PRESENCE_WS_AUTH_SECONDS = env.float("PRESENCE_WS_AUTH_SECONDS", default=5)
PRESENCE_DISCONNECT_GRACE_SECONDS = env.float("PRESENCE_DISCONNECT_GRACE_SECONDS", default=10)
# Watch lists (users/presence/scope.py): the most user ids a socket or a feed read may name, and who may
# watch everyone ("everyone", or "staff" to keep the whole organisation for admin panels).
PRESENCE_WATCH_MAX = env.int("PRESENCE_WATCH_MAX", default=1000)
PRESENCE_WATCH_ALL_FOR = env.str("PRESENCE_WATCH_ALL_FOR", default="everyone")
if PRESENCE_WATCH_ALL_FOR not in ("everyone", "staff") or PRESENCE_WATCH_MAX < 1:
    raise ImproperlyConfigured("PRESENCE_WATCH_ALL_FOR is everyone or staff, and PRESENCE_WATCH_MAX at least 1")
# /healthz fails "beat" when no sweep completed for this long (three missed sweeps by default).
HEALTHZ_BEAT_MAX_AGE_SECONDS = env.int("HEALTHZ_BEAT_MAX_AGE_SECONDS", default=3 * PRESENCE_SWEEP_SECONDS + 30)

# --- Reliability and abuse limits -------------------------------------------
# Bodies above this get 413 (the API's bodies are a few hundred bytes).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=65536)
LOGIN_THROTTLE_IP_RATE = env.str("LOGIN_THROTTLE_IP_RATE", default="60/min")
LOGIN_THROTTLE_USERNAME_RATE = env.str("LOGIN_THROTTLE_USERNAME_RATE", default="10/min")
PRESENCE_IDLE_SECONDS = env.int("PRESENCE_IDLE_SECONDS", default=300)
# Keep ended sessions at least as long as a refresh token lives, so logout-all still finds them.
PRESENCE_SESSION_RETENTION_SECONDS = env.int("PRESENCE_SESSION_RETENTION_SECONDS", default=7 * 86400)
# When set, GET /metrics wants `Authorization: Bearer <this>`; empty or unset leaves it open (restrict it at the proxy).
METRICS_BEARER_TOKEN = env.str("METRICS_BEARER_TOKEN", default="")

# --- REST framework and JWT -----------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["users.auth.authentication.RevocableJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["users.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "users.api_errors.json_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_RATES": {"login-ip": LOGIN_THROTTLE_IP_RATE, "login-username": LOGIN_THROTTLE_USERNAME_RATE},
    # Proxies in front that append to X-Forwarded-For; 0 trusts only REMOTE_ADDR, so the header cannot dodge the IP limit.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "DEFAULT_SCHEMA_CLASS": "users.api_schema.PresenceAutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Offchat presence API",
    "DESCRIPTION": (
        "Login, heartbeat, the incremental presence feed (GET /api/users/presence/?since=<cursor>: poll it, or "
        "hold the presence socket at /ws/presence/ instead), the all-users list, your own presence and staff user "
        "management. Errors are JSON: {detail, code, errors?}."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # A PATCH body is its serializer as declared: me/presence needs `invisible`; the admin update's are all optional.
    "COMPONENT_SPLIT_PATCH": False,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_ACCESS_TOKEN_SECONDS", default=300)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_REFRESH_TOKEN_SECONDS", default=86400)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "TOKEN_REFRESH_SERIALIZER": "users.serializers.auth.SessionTokenRefreshSerializer",
}

# --- CORS -------------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=["http://localhost:5173", "http://127.0.0.1:5173"])

# --- Celery ---------------------------------------------------------------
# filesystem://localhost/, not filesystem://: kombu warns "No hostname was supplied" for the latter.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker: kombu's filesystem transport, so `make run` needs no server.
    _broker_dir = Path(env.str("CELERY_BROKER_FOLDER", default=str(VAR_DIR / "broker")))
    _broker_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=30)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=60)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# DatabaseScheduler copies this entry into its table at start, so changing the
# environment variable and restarting beat is enough to retime the sweep.
CELERY_BEAT_SCHEDULE = {
    "presence-sweep": {
        "task": "users.tasks.check_and_mark_offline_users",
        "schedule": float(PRESENCE_SWEEP_SECONDS),
    },
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own console handler (under DEBUG) would print every django.* line a second time via the root.
        "django": {"handlers": [], "level": LOG_LEVEL},
        "django.db.backends": {"level": "WARNING"},
        # runserver (daphne) prints its access lines with a handler of its own: not twice.
        "django.channels.server": {"propagate": False},
    },
}
