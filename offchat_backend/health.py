"""Liveness and readiness: /livez (the process serves), /readyz (database, Redis, beat), /healthz (= /readyz).

An orchestrator restarts a process whose /livez fails and takes one whose /readyz fails out of
rotation: a database or a Redis that stalls should do the second, never the first. /livez asks no
dependency. /readyz waits on neither once it is known to fail: the database check and the cache
check go through their breakers (offchat_backend/db_breaker.py, redis_breaker.py), which refuse at
once while open, and a database wait is bounded by the client deadline before that.
"""

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from offchat_backend import db_breaker, redis_breaker
from users.api_errors import json_methods
from users.presence import clock, sweep_record

# Until beat's first sweep is due, "no sweep yet" is a process starting, not a failure.
STARTED_AT = clock.now()


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # any driver error means "down" to a health check
        return False


def _redis_ok() -> bool:
    """One PING through the breaker: at most one socket timeout, and none while the breaker is open."""
    try:
        return bool(cache._cache.get_client(write=True).ping())
    except Exception:
        return False


def _beat() -> tuple[str, dict]:
    """'ok', 'stale' (no sweep within HEALTHZ_BEAT_MAX_AGE_SECONDS), 'starting' or 'never' (none since start)."""
    try:
        last = sweep_record.last_sweep()
    except Exception:
        return "unknown", {}  # the database check names the cause
    limit = timedelta(seconds=settings.HEALTHZ_BEAT_MAX_AGE_SECONDS)
    if last is None:
        # Reads stay correct without beat, so its first minutes are no failure; a beat that never
        # comes is one.
        return ("starting" if clock.now() - STARTED_AT <= limit else "never"), {"last_sweep_at": None}
    age = clock.now() - last.finished_at
    return ("ok" if age <= limit else "stale"), {
        "last_sweep_at": last.finished_at.isoformat(),
        "last_sweep_age_seconds": round(age.total_seconds(), 1),
    }


@never_cache
@json_methods("GET")
def livez(request):
    """200 while the process serves requests; no dependency is asked."""
    return JsonResponse({"status": "ok"})


@never_cache
@json_methods("GET")
def readyz(request):
    """200 when the database, Redis (when configured) and beat are fine, else 503 naming the failing parts."""
    checks = {"database": "ok" if _database_ok() else "down"}
    if settings.REDIS_URL:
        checks["redis"] = "ok" if _redis_ok() else "down"
    checks["beat"], beat = _beat()
    failing = sorted(name for name, state in checks.items() if state in ("down", "stale", "never"))
    body = {"status": "ok" if not failing else "unavailable", "failing": failing, "checks": checks, "beat": beat}
    body["database_breaker"] = db_breaker.state()
    if settings.REDIS_URL:
        body["redis_breaker"] = redis_breaker.state()
    return JsonResponse(body, status=503 if failing else 200)


healthz = readyz  # the older name, kept for existing probes and monitors
