"""Login, heartbeat and logout as one action each: tokens issued, checked or revoked, then presence written."""
from datetime import datetime

from django.utils import timezone
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token

from users.models import PresenceSession, User
from users.services import session_revocation
from users.services.simple_online_status import (
    end_all_presence_sessions,
    end_presence_session,
    refresh_presence_session,
    start_presence_session,
)

LOGOUT = PresenceSession.EndReason.LOGOUT
LOGOUT_ALL = PresenceSession.EndReason.LOGOUT_ALL


def start_session(user: User, *, device_id: str = "") -> RefreshToken:
    """Issue a refresh token for a new session (its `sid` is copied into every access token), open its presence session."""
    refresh = RefreshToken.for_user(user)
    refresh[session_revocation.SESSION_CLAIM] = refresh["jti"]
    session_revocation.remember_live_session(refresh["jti"])  # its requests need no revocation query
    written_at = start_presence_session(user.id, refresh["jti"], device_id=device_id)
    user.online_status, user.last_seen, user.last_active = User.OnlineStatus.ONLINE, written_at, written_at
    return refresh


class SessionEnded(Exception):
    """The session was logged out while this request was running."""


def keep_session_alive(user: User, *, access_token: Token, state: str = PresenceSession.State.ACTIVE) -> datetime:
    """A heartbeat for the caller's session; SessionEnded if a logout ended it first."""
    # The session row decides: the heartbeat's UPDATE matches only a session that no logout has
    # ended, and PostgreSQL re-checks that under the row lock, so a racing logout always wins.
    written_at = refresh_presence_session(user.id, session_revocation.session_id(access_token), state=state)
    if written_at is None:
        raise SessionEnded
    return written_at


def end_session(user: User, *, access_token: Token, refresh_token: RefreshToken | None = None) -> None:
    """Revoke the caller's session (and the given refresh token's) and end its presence; other devices stay."""
    # Revoke before the presence write: a heartbeat that arrives after this point is refused
    # at authentication; one already past it finds its session row ended.
    sids = [session_revocation.session_id(access_token)]
    if refresh_token is not None:
        refresh_token.blacklist()  # get_or_create underneath: a second logout is harmless
        sids.append(session_revocation.session_id(refresh_token))
    for sid in dict.fromkeys(sids):
        session_revocation.revoke_session(sid)
        end_presence_session(user.id, sid, reason=LOGOUT)
    user.refresh_from_db(fields=["online_status", "last_seen", "last_active"])


def end_all_sessions(user: User) -> int:
    """Logout everywhere: revoke every session and refresh token of the user, then mark offline; returns sessions ended."""
    sids = set(PresenceSession.objects.filter(user_id=user.id).values_list("sid", flat=True))
    # Refresh tokens record their session too: this finds sessions whose rows were already deleted.
    outstanding = list(OutstandingToken.objects.filter(user_id=user.id, expires_at__gt=timezone.now()))
    for token in outstanding:
        try:
            sids.add(session_revocation.session_id(token_backend.decode(token.token, verify=False)))
        except Exception:  # noqa: BLE001 - a stored token we cannot read is still blacklisted below
            pass
    for sid in sids:
        session_revocation.revoke_session(sid)
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True)
    ended = end_all_presence_sessions(user.id, reason=LOGOUT_ALL)
    user.refresh_from_db(fields=["online_status", "last_seen", "last_active"])
    return ended
