"""GET /healthz: is the database reachable, the cache when Redis is configured, and is beat sweeping."""

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from users.presence import clock, sweep_record


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # any driver error means "down" to a health check
        return False


def _cache_ok() -> bool:
    try:
        cache.set("healthz", "ok", timeout=5)
        return cache.get("healthz") == "ok"
    except Exception:
        return False


def _beat() -> tuple[str, dict]:
    """'ok', 'stale' (no sweep completed within HEALTHZ_BEAT_MAX_AGE_SECONDS) or 'never' (none yet)."""
    try:
        last = sweep_record.last_sweep()
    except Exception:
        return "unknown", {}  # the database check names the cause
    if last is None:
        # A fresh deployment has not swept yet; reads stay correct without beat, so this is no failure.
        return "never", {"last_sweep_at": None}
    age = clock.now() - last.finished_at
    state = "ok" if age <= timedelta(seconds=settings.HEALTHZ_BEAT_MAX_AGE_SECONDS) else "stale"
    return state, {
        "last_sweep_at": last.finished_at.isoformat(),
        "last_sweep_age_seconds": round(age.total_seconds(), 1),
    }


@never_cache
@require_GET
def healthz(request):
    """200 when every part answers, else 503 naming the failing parts."""
    checks = {"database": "ok" if _database_ok() else "down"}
    if settings.REDIS_URL:
        checks["redis"] = "ok" if _cache_ok() else "down"
    checks["beat"], beat = _beat()
    failing = sorted(name for name, state in checks.items() if state in ("down", "stale"))
    body = {"status": "ok" if not failing else "unavailable", "failing": failing, "checks": checks, "beat": beat}
    return JsonResponse(body, status=503 if failing else 200)
