"""Shapes of the bodies the API answers with, for the OpenAPI schema; the views build them as plain dicts."""
from rest_framework import serializers

from users.models import User
from users.serializers.users import UserSerializer


class ErrorSerializer(serializers.Serializer):
    """Every error body (users/api_errors.py): a message, a machine-readable code, and per-field errors for bad input."""

    detail = serializers.CharField(help_text="A human-readable message.")
    code = serializers.CharField(help_text="A machine-readable code, e.g. not_authenticated, token_not_valid, invalid.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Only for invalid input: field name to its messages.",
    )


class PresenceSettingsSerializer(serializers.Serializer):
    """The intervals a client uses; nothing in a client is hard-coded."""

    heartbeat_seconds = serializers.IntegerField(help_text="Send POST /api/users/heartbeat/ this often.")
    refresh_seconds = serializers.IntegerField(help_text="Poll GET /api/users/all-users/ this often.")
    timeout_seconds = serializers.IntegerField(help_text="Silence after which a user reads as offline.")


class LoginResponseSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Access token: send as `Authorization: Bearer <access>`.")
    refresh = serializers.CharField(help_text="Refresh token for POST /api/users/token/refresh/ and logout.")
    user = UserSerializer()
    presence = PresenceSettingsSerializer()


class LogoutResponseSerializer(serializers.Serializer):
    detail = serializers.CharField()
    online_status = serializers.ChoiceField(choices=User.OnlineStatus.values)


class HeartbeatResponseSerializer(serializers.Serializer):
    online_status = serializers.ChoiceField(choices=User.OnlineStatus.values)
    last_seen = serializers.DateTimeField()


class AllUsersEntrySerializer(serializers.Serializer):
    """One entry of the all-users list; the last three fields only for staff callers."""

    id = serializers.IntegerField()
    username = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    online_status = serializers.ChoiceField(choices=User.OnlineStatus.values, help_text="The effective status.")
    last_seen = serializers.DateTimeField(allow_null=True)
    email = serializers.EmailField(required=False, allow_blank=True, help_text="Staff callers only.")
    is_staff = serializers.BooleanField(required=False, help_text="Staff callers only.")
    is_active = serializers.BooleanField(required=False, help_text="Staff callers only.")
