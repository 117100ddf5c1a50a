"""Login sessions and their revocation: a session id rides in every token; revoked ids live in the database, cached.

The `revoked_sessions` table is the truth; the cache (Redis in production) is a fast path holding
True (revoked) or False (known live) per session. A cache miss, or a cache that does not answer,
falls back to the table, so a logged-out token is never accepted again: not while Redis is down,
and not after Redis restarts empty.
"""

import logging
from collections.abc import Mapping
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from rest_framework_simplejwt.tokens import Token

from users.models import RevokedSession
from users.presence import clock

logger = logging.getLogger(__name__)
SESSION_CLAIM = "sid"


def session_id(token: "Token | Mapping") -> str:
    """The login session a token belongs to; it survives refresh-token rotation."""
    return str(token.get(SESSION_CLAIM) or token.get("jti"))


def _key(sid: str) -> str:
    return f"revoked-session:{sid}"


def _session_lifetime() -> timedelta:
    # No token of a session outlives its last refresh token, so neither must its revocation.
    return settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"] + timedelta(seconds=60)


def _cache_call(method: str, *args, **kwargs):
    """A cache call that reports an unreachable cache as None instead of raising."""
    try:
        return getattr(cache, method)(*args, **kwargs)
    except Exception as exc:  # redis-py raises its own ConnectionError/TimeoutError family
        logger.warning("revocation cache_unavailable op=%s error=%s", method, type(exc).__name__)
        return None


def remember_live_session(sid: str) -> None:
    """Cache that a new session is live, so its requests skip the table (add: never overwrites a revocation)."""
    _cache_call("add", _key(sid), False, timeout=settings.SESSION_LIVE_CACHE_SECONDS)


def revoke_session(sid: str) -> None:
    """Refuse every token of this session from now on: written to the table first, then to the cache."""
    at = clock.now()
    RevokedSession.objects.bulk_create(
        [RevokedSession(sid=sid, revoked_at=at, expires_at=at + _session_lifetime())], ignore_conflicts=True
    )
    _cache_call("set", _key(sid), True, timeout=int(_session_lifetime().total_seconds()))


def is_session_revoked(sid: str) -> bool:
    """Whether the session was ended by a logout: the cache when it knows, else the table."""
    cached = _cache_call("get", _key(sid))
    if cached is not None:
        return bool(cached)
    revoked = RevokedSession.objects.filter(sid=sid).exists()
    if revoked:
        _cache_call("set", _key(sid), True, timeout=int(_session_lifetime().total_seconds()))
    else:
        # add, not set: a logout that lands between our read and this write keeps its True.
        _cache_call("add", _key(sid), False, timeout=settings.SESSION_LIVE_CACHE_SECONDS)
    return revoked


def forget_expired_revocations() -> int:
    """Delete revocations no token can outlive any more; returns how many (one DELETE)."""
    deleted, _ = RevokedSession.objects.filter(expires_at__lt=clock.now()).delete()
    return deleted
