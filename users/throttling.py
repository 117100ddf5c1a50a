"""Login rate limits per IP and per username (DRF throttles) that keep working, per process, when Redis is down."""

import hashlib
import logging

from django.core.cache import cache as default_cache
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class FailSoftCache:
    """The shared cache for throttle counts; while it does not answer, a per-process cache instead.

    Limits stay in force during a Redis outage (counted per process, so multiplied by the number
    of processes) rather than either refusing every login or letting every guess through.
    """

    def __init__(self):
        self.local = LocMemCache("throttle-fallback", {})

    def _call(self, method: str, *args, **kwargs):
        try:
            return getattr(default_cache, method)(*args, **kwargs)
        except Exception as exc:  # redis-py's errors, or the breaker refusing while Redis is failing
            # The breaker logs each transition once (offchat_backend/redis_breaker.py), not each call.
            logger.debug("throttle cache_unavailable op=%s error=%s", method, type(exc).__name__)
            return getattr(self.local, method)(*args, **kwargs)

    def get(self, key, default=None):
        return self._call("get", key, default)

    def set(self, key, value, timeout=None):
        return self._call("set", key, value, timeout)


class FailSoftRateThrottle(SimpleRateThrottle):
    """A SimpleRateThrottle counting in FailSoftCache."""

    cache = FailSoftCache()

    def get_rate(self):
        # DRF binds THROTTLE_RATES at import; reading the settings now lets tests and env changes apply.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


class LoginIPRateThrottle(FailSoftRateThrottle):
    """Login attempts per client IP (REMOTE_ADDR, or X-Forwarded-For behind NUM_PROXIES proxies)."""

    scope = "login-ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameRateThrottle(FailSoftRateThrottle):
    """Login attempts per username, whichever IPs they come from (a distributed guess at one account)."""

    scope = "login-username"

    def get_cache_key(self, request, view):
        data = request.data
        username = data.get("username") if isinstance(data, dict) else None
        if not isinstance(username, str) or not username:
            return None  # the serializer answers 400; the IP limit still counts the attempt
        # Case-folded, so "Alice" and "ALICE" share one budget; hashed, so any input makes a short, safe key.
        ident = hashlib.sha256(username.casefold().encode("utf-8", "surrogatepass")).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}
