"""JWT authentication that also refuses access tokens of a logged-out session."""

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings

from users.auth import revocation

REVOKED = {"detail": "Token has been revoked.", "code": "token_revoked"}


class RevocableJWTAuthentication(JWTAuthentication):
    """simplejwt's Bearer authentication; one query loads the user and says whether the token's session was revoked."""

    def get_user(self, validated_token):
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken("Token contained no recognizable user identification") from exc
        users = self.user_model.objects.annotate(
            session_revoked=revocation.revoked(revocation.session_id(validated_token))
        )
        try:
            user = users.get(**{api_settings.USER_ID_FIELD: user_id})
        except self.user_model.DoesNotExist as exc:
            raise AuthenticationFailed("User not found", code="user_not_found") from exc
        except (TypeError, ValueError) as exc:
            # A user id that is not a number (a signed but malformed token) makes the ORM lookup
            # raise; that is a bad token (401), not a server error.
            raise InvalidToken(
                {"detail": "Token contained no recognizable user identification.", "code": "token_not_valid"}
            ) from exc
        if user.session_revoked:
            raise InvalidToken(REVOKED)
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        return user
