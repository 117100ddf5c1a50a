"""JWT authentication that also refuses access tokens of a logged-out session."""

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken

from users.auth import revocation


class RevocableJWTAuthentication(JWTAuthentication):
    """simplejwt's Bearer authentication plus the session revocation check."""

    def get_validated_token(self, raw_token: bytes):
        token = super().get_validated_token(raw_token)
        if revocation.is_session_revoked(revocation.session_id(token)):
            raise InvalidToken({"detail": "Token has been revoked.", "code": "token_revoked"})
        return token

    def get_user(self, validated_token):
        try:
            return super().get_user(validated_token)
        except (TypeError, ValueError) as exc:
            # A user id that is not a number (a signed but malformed token) makes the ORM
            # lookup raise; that is a bad token (401), not a server error.
            raise InvalidToken(
                {"detail": "Token contained no recognizable user identification.", "code": "token_not_valid"}
            ) from exc
