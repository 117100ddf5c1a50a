"""GET /healthz: is the database reachable, and the cache when Redis is configured."""
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


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


@never_cache
@require_GET
def healthz(request):
    """200 when every part answers, else 503 naming the failing parts."""
    checks = {"database": _database_ok()}
    if settings.REDIS_URL:
        checks["redis"] = _cache_ok()
    failing = sorted(name for name, ok in checks.items() if not ok)
    body = {"status": "ok" if not failing else "unavailable", "failing": failing,
            "checks": {name: "ok" if ok else "down" for name, ok in checks.items()}}
    return JsonResponse(body, status=503 if failing else 200)
