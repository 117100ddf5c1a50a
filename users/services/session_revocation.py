"""Login sessions and their revocation: a session id rides in every token, revoked ids live in the cache."""
from collections.abc import Mapping

from django.conf import settings
from django.core.cache import cache
from rest_framework_simplejwt.tokens import Token

SESSION_CLAIM = "sid"


def session_id(token: "Token | Mapping") -> str:
    """The login session a token belongs to; it survives refresh-token rotation."""
    return str(token.get(SESSION_CLAIM) or token.get("jti"))


def revoke_session(sid: str) -> None:
    """Refuse every token of this session from now on."""
    # Kept as long as a refresh token can live, so no token of the session outlives the entry.
    lifetime = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"].total_seconds()
    cache.set(f"revoked-session:{sid}", True, timeout=int(lifetime) + 60)


def is_session_revoked(sid: str) -> bool:
    """Whether the session was ended by a logout."""
    return bool(cache.get(f"revoked-session:{sid}", False))
