"""Login, heartbeat and logout as one action each: tokens issued, checked or revoked, then presence written."""

import contextlib
from datetime import datetime

from django.db import connection
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token

from users.auth import revocation
from users.auth.authentication import RevocableJWTAuthentication
from users.models import PresenceSession, User
from users.presence import clock, sql
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


def socket_token(raw_access_token: str) -> Token:
    """A presence socket's access token checked for signature, type and expiry (no database); AuthenticationFailed otherwise."""
    return RevocableJWTAuthentication().get_validated_token(raw_access_token.encode())


def connect_socket(token: Token) -> User:
    """One presence socket's auth: the token's user loaded as a request's would be, its session counted alive.

    Raises AuthenticationFailed (a missing or inactive user, a revoked session) or SessionEnded.
    """
    user = RevocableJWTAuthentication().get_user(token)
    heartbeat(user, access_token=token, state=ACTIVE)
    return user


def connect_sockets(tokens: list[Token]) -> list[User | None]:
    """Many sockets' auth at once: each token's user, or None where connect_socket() would refuse it.

    On PostgreSQL one statement checks them all and counts their sessions alive; only a socket it
    cannot settle (its user coming back online, a session with no open row, a row held elsewhere)
    takes connect_socket()'s path, so the answers are exactly the one-socket ones.
    """
    asked = [(revocation.session_id(token), _user_id(token)) for token in tokens]
    found = {}
    if connection.vendor == "postgresql":
        at = clock.now()
        rows = sql.sockets_admit(
            [(sid, user_id) for sid, user_id in asked if user_id is not None], at, clock.settled_cutoff(at)
        )
        found = {row[0]: row for row in rows}
    outcomes: list[User | None] = []
    for token, (sid, user_id) in zip(tokens, asked, strict=True):
        row = found.get(sid)
        if user_id is None or (connection.vendor == "postgresql" and row is None):
            outcomes.append(None)  # no such active user, or the session was revoked
            continue
        if row is not None and row[4] and row[5]:  # checked, and the heartbeat written
            outcomes.append(User(id=row[1], username=row[2], is_staff=row[3], is_active=True))
            continue
        try:
            outcomes.append(connect_socket(token))
        except (AuthenticationFailed, SessionEnded):
            outcomes.append(None)
    return outcomes


def _user_id(token: Token) -> int | None:
    """The token's user id; None for a signed token whose id is no number (refused like a missing user)."""
    try:
        return int(token[api_settings.USER_ID_CLAIM])
    except (KeyError, TypeError, ValueError):
        return None


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
