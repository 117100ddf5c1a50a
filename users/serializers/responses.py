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
    idle_seconds = serializers.IntegerField(
        help_text="Without keyboard or pointer input for this long, send heartbeats with state `idle`."
    )


class LoginResponseSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Access token: send as `Authorization: Bearer <access>`.")
    refresh = serializers.CharField(help_text="Refresh token for POST /api/users/token/refresh/ and logout.")
    user = UserSerializer()
    presence = PresenceSettingsSerializer()


class LogoutResponseSerializer(serializers.Serializer):
    detail = serializers.CharField()
    online_status = serializers.ChoiceField(
        choices=User.OnlineStatus.values, help_text="The caller's status now: still online or away while another device is."
    )


class LogoutAllResponseSerializer(LogoutResponseSerializer):
    sessions_ended = serializers.IntegerField(help_text="How many sessions were ended (live or expired, not yet logged out).")


class HeartbeatResponseSerializer(serializers.Serializer):
    online_status = serializers.ChoiceField(choices=User.OnlineStatus.values)
    last_seen = serializers.DateTimeField()


class AllUsersEntrySerializer(serializers.Serializer):
    """One entry of the all-users list; the last three fields only for staff callers."""

    id = serializers.IntegerField()
    username = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    online_status = serializers.ChoiceField(
        choices=User.OnlineStatus.values,
        help_text="The status the caller may see: `online` (a device in use), `away` (devices connected but idle), "
        "`offline`. An invisible user reads `offline` to everyone but staff.",
    )
    last_seen = serializers.DateTimeField(
        allow_null=True, help_text="Last heartbeat or activity; for an invisible user (non-staff callers), when they went invisible."
    )
    email = serializers.EmailField(required=False, allow_blank=True, help_text="Staff callers only.")
    is_staff = serializers.BooleanField(required=False, help_text="Staff callers only.")
    is_active = serializers.BooleanField(required=False, help_text="Staff callers only.")
    invisible = serializers.BooleanField(
        required=False, help_text="Staff callers only: the user hides their presence from others (staff see the real status)."
    )


class PresenceFeedSerializer(serializers.Serializer):
    """GET /api/users/presence/: changes since a cursor (or everyone, without one) and the cursor to ask with next."""

    cursor = serializers.CharField(help_text="Opaque; pass as `since` on the next call.")
    full = serializers.BooleanField(help_text="True when `users` is everyone (no `since` given).")
    users = AllUsersEntrySerializer(many=True, help_text="Entries in the all-users shape; apply them over what you hold.")


class PresenceSessionEntrySerializer(serializers.Serializer):
    device_id = serializers.CharField(help_text="The label the device sent at login (may be empty).")
    state = serializers.ChoiceField(choices=["active", "idle"])
    started_at = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    current = serializers.BooleanField(help_text="This is the session of the token making the request.")


class OwnPresenceSerializer(serializers.Serializer):
    """GET/PATCH /api/users/me/presence/: the caller's real status, invisible flag and open sessions."""

    online_status = serializers.ChoiceField(choices=User.OnlineStatus.values)
    invisible = serializers.BooleanField()
    sessions = PresenceSessionEntrySerializer(many=True)
