"""Login, heartbeat and logout as one action each: tokens issued, checked or revoked, then presence written."""

import contextlib
from datetime import datetime

from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token

from users.auth import revocation
from users.auth.authentication import RevocableJWTAuthentication
from users.models import PresenceSession, User
from users.presence import clock
from users.presence.rules import ACTIVE, ONLINE
from users.presence.session_writes import (
    end_all_presence_sessions,
    end_presence_session,
    start_presence_session,
    write_heartbeat,
)

PRESENCE_FIELDS = ["online_status", "last_seen", "last_active"]


class SessionEnded(Exception):
    """The session was logged out while this request was running."""


def connect_socket(raw_access_token: str) -> tuple[User, Token]:
    """A presence socket's auth: the access token checked as a request's would be, its session counted alive.

    Raises AuthenticationFailed (a bad, expired or revoked token, an inactive user) or SessionEnded.
    """
    authentication = RevocableJWTAuthentication()
    token = authentication.get_validated_token(raw_access_token.encode())
    user = authentication.get_user(token)
    heartbeat(user, access_token=token, state=ACTIVE)
    return user, token


def log_in(user: User, *, device_id: str = "") -> RefreshToken:
    """Issue a refresh token for a new session (its `sid` is copied into every access token), open its presence session."""
    refresh = RefreshToken.for_user(user)
    refresh[revocation.SESSION_CLAIM] = refresh["jti"]
    written_at = start_presence_session(user.id, refresh["jti"], device_id=device_id)
    user.online_status, user.last_seen, user.last_active = ONLINE, written_at, written_at
    return refresh


def heartbeat(user: User, *, access_token: Token, state: str = ACTIVE) -> tuple[str, datetime]:
    """The caller's session is alive in `state`: returns (the user's status, last_seen written); SessionEnded if logged out.

    The loaded `user` is kept current, so the presence middleware sees this write and skips its own.
    """
    # The session row decides: the write matches only a session no logout has ended, re-checked
    # under the row lock, so a racing logout always wins.
    beat = write_heartbeat(user.id, revocation.session_id(access_token), clock.now(), state=state)
    if beat is None:
        raise SessionEnded
    # The write answers the columns it left (idle: maybe another device's), so no read follows it.
    user.online_status, user.last_seen, user.last_active = beat.status, beat.last_seen, beat.last_active
    return beat.status, beat.at


def log_out(user: User, *, access_token: Token, refresh_token: RefreshToken | None = None) -> None:
    """Revoke the caller's session (and the given refresh token's) and end its presence; other devices stay."""
    # Revoke before the presence write: a heartbeat after this point is refused at authentication;
    # one already past it finds its session row ended.
    sids = [revocation.session_id(access_token)]
    if refresh_token is not None:
        refresh_token.blacklist()  # get_or_create underneath: a second logout is harmless
        sids.append(revocation.session_id(refresh_token))
    for sid in dict.fromkeys(sids):
        revocation.revoke_session(sid)
        end_presence_session(user.id, sid, reason=PresenceSession.EndReason.LOGOUT)
    user.refresh_from_db(fields=PRESENCE_FIELDS)


def log_out_everywhere(user: User) -> int:
    """Revoke every session and refresh token of the user, then mark them offline; returns the sessions ended."""
    sids = set(PresenceSession.objects.filter(user_id=user.id).values_list("sid", flat=True))
    # Refresh tokens record their session too: this finds sessions whose rows were already deleted.
    outstanding = list(OutstandingToken.objects.filter(user_id=user.id, expires_at__gt=timezone.now()))
    for token in outstanding:
        with contextlib.suppress(TokenBackendError):  # a stored token we cannot read is still blacklisted below
            sids.add(revocation.session_id(token_backend.decode(token.token, verify=False)))
    for sid in sids:
        revocation.revoke_session(sid)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    ended = end_all_presence_sessions(user.id, reason=PresenceSession.EndReason.LOGOUT_ALL)
    user.refresh_from_db(fields=PRESENCE_FIELDS)
    return ended
