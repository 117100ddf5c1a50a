"""Login, heartbeat and logout as one action each: tokens issued, checked or revoked, then presence written."""
from datetime import datetime

from rest_framework_simplejwt.tokens import RefreshToken, Token

from users.models import User
from users.services import session_revocation
from users.services.simple_online_status import mark_user_offline, mark_user_online


def start_session(user: User) -> RefreshToken:
    """Issue a refresh token for a new session (its `sid` is copied into every access token) and mark online."""
    refresh = RefreshToken.for_user(user)
    refresh[session_revocation.SESSION_CLAIM] = refresh["jti"]
    session_revocation.remember_live_session(refresh["jti"])  # its requests need no revocation query
    written_at = mark_user_online(user.id)
    user.online_status, user.last_seen = User.OnlineStatus.ONLINE, written_at
    return refresh


class SessionEnded(Exception):
    """The session was logged out while this request was running."""


def keep_session_alive(user: User, *, access_token: Token) -> datetime | None:
    """A heartbeat: mark online; undone (SessionEnded) if the session was logged out meanwhile."""
    written_at = mark_user_online(user.id)
    # A heartbeat authenticated just before a logout can write "online" after the logout's
    # "offline". end_session() revokes before it writes, so whenever our write came last this
    # check sees the revocation, and the user goes back offline as the logout meant.
    if session_revocation.is_session_revoked(session_revocation.session_id(access_token)):
        mark_user_offline(user.id, reason="logout")
        raise SessionEnded
    return written_at


def end_session(user: User, *, access_token: Token, refresh_token: RefreshToken | None = None) -> None:
    """Revoke the caller's session (and the given refresh token's), then mark the user offline."""
    # Revoke before the status write: a heartbeat that arrives after this point is
    # refused at authentication, so it cannot bring the user back online.
    session_revocation.revoke_session(session_revocation.session_id(access_token))
    if refresh_token is not None:
        refresh_token.blacklist()  # get_or_create underneath: a second logout is harmless
        session_revocation.revoke_session(session_revocation.session_id(refresh_token))
    written_at = mark_user_offline(user.id, reason="logout")
    user.online_status, user.last_seen = User.OnlineStatus.OFFLINE, written_at
