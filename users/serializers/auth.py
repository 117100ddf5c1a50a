"""Login, logout and token refresh: their requests and answers."""

from django.contrib.auth import get_user_model
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework_simplejwt.exceptions import InvalidToken, TokenBackendError
from rest_framework_simplejwt.serializers import TokenObtainSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.tokens import RefreshToken

from users.auth import revocation
from users.presence.rules import STATUSES
from users.serializers.presence import PresenceSettingsSerializer
from users.serializers.users import UserSerializer


class LoginSerializer(TokenObtainSerializer):
    """Checks username and password; `self.user` is the authenticated, active user."""

    token_class = RefreshToken
    default_error_messages = {"no_active_account": _("Invalid username or password.")}
    # An optional label for the device or tab; the session itself is keyed by the token's `sid`.
    device_id = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # simplejwt's PasswordField trims like any CharField; Django's password forms keep the spaces.
        self.fields["password"].trim_whitespace = False
        # The username is trimmed (as Django's login form does): say so in the schema, as "holds a non-space".
        self.fields[self.username_field].validators.append(RegexValidator(r"\S", "Enter a username."))

    def validate(self, attrs):
        super().validate(attrs)  # raises AuthenticationFailed (401), same body for unknown users
        return {"device_id": attrs.get("device_id", "")}


class LogoutSerializer(serializers.Serializer):
    """An optional refresh token, which must be valid and belong to the caller (already blacklisted is fine)."""

    refresh = serializers.CharField(required=False, max_length=4096)

    def validate_refresh(self, value: str) -> RefreshToken:
        try:
            # Signature and expiry only: a refresh token already blacklisted by an
            # earlier logout is accepted, so a repeated logout is harmless.
            payload = token_backend.decode(value, verify=True)
        except TokenBackendError:
            raise serializers.ValidationError("Token is invalid or expired.", code="token_not_valid") from None
        if payload.get(jwt_settings.TOKEN_TYPE_CLAIM) != "refresh":
            raise serializers.ValidationError("Token is not a refresh token.", code="token_not_valid")
        user = self.context["request"].user
        if str(payload.get(jwt_settings.USER_ID_CLAIM)) != str(getattr(user, jwt_settings.USER_ID_FIELD)):
            raise serializers.ValidationError("Token belongs to another user.", code="token_not_valid")
        return RefreshToken(value, verify=False)


class SessionTokenRefreshSerializer(TokenRefreshSerializer):
    """simplejwt's rotating refresh, refusing tokens of a logged-out session or a deleted user."""

    def validate(self, attrs):
        try:
            payload = token_backend.decode(attrs["refresh"], verify=True)
        except TokenBackendError:
            payload = None  # super() turns the bad token into a 401
        if payload is not None:
            # Checked before super() rotates, so a revoked session gets no new token at all.
            if revocation.is_session_revoked(revocation.session_id(payload)):
                raise InvalidToken({"detail": "Token has been revoked.", "code": "token_revoked"})
            user_model = get_user_model()
            user_id = payload.get(jwt_settings.USER_ID_CLAIM)
            try:
                user_exists = user_model.objects.filter(**{jwt_settings.USER_ID_FIELD: user_id}).exists()
            except (TypeError, ValueError):  # a signed token whose user id is not a number
                user_exists = False
            if not user_exists:
                raise InvalidToken({"detail": "User not found.", "code": "user_not_found"})
        return super().validate(attrs)


class LoginResponseSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Access token: send as `Authorization: Bearer <access>`.")
    refresh = serializers.CharField(help_text="Refresh token for POST /api/users/token/refresh/ and logout.")
    user = UserSerializer()
    presence = PresenceSettingsSerializer()


class LogoutResponseSerializer(serializers.Serializer):
    detail = serializers.CharField()
    online_status = serializers.ChoiceField(
        choices=STATUSES, help_text="The caller's status now: still online or away while another device is."
    )


class LogoutAllResponseSerializer(LogoutResponseSerializer):
    sessions_ended = serializers.IntegerField(
        help_text="How many sessions were ended (live or expired, not yet logged out)."
    )
