"""Login sessions and their revocation: a session id rides in every token; revoked ids live in the database.

The `revoked_sessions` table is the only record. It is read in the same query that loads the
token's user (authentication.py), so a revocation holds from its commit on, in every process, and
no cache write that a stalled or restarted Redis could lose is ever part of the decision.
"""

from collections.abc import Mapping
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists
from rest_framework_simplejwt.tokens import Token

from users.models import RevokedSession
from users.presence import clock

SESSION_CLAIM = "sid"


def session_id(token: "Token | Mapping") -> str:
    """The login session a token belongs to; it survives refresh-token rotation."""
    return str(token.get(SESSION_CLAIM) or token.get("jti"))


def _session_lifetime() -> timedelta:
    # No token of a session outlives its last refresh token, so neither must its revocation.
    return settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"] + timedelta(seconds=60)


def revoke_session(sid: str) -> None:
    """Refuse every token of this session from the commit of this write on."""
    at = clock.now()
    RevokedSession.objects.bulk_create(
        [RevokedSession(sid=sid, revoked_at=at, expires_at=at + _session_lifetime())], ignore_conflicts=True
    )


def revoked(sid: str) -> Exists:
    """Whether the session was revoked, as an SQL expression to annotate a query with (a primary-key probe)."""
    return Exists(RevokedSession.objects.filter(sid=sid))


def is_session_revoked(sid: str) -> bool:
    """Whether the session was ended by a logout."""
    return RevokedSession.objects.filter(sid=sid).exists()


def forget_expired_revocations() -> int:
    """Delete revocations no token can outlive any more; returns how many (one DELETE)."""
    deleted, _ = RevokedSession.objects.filter(expires_at__lt=clock.now()).delete()
    return deleted
