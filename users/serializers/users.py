"""Response shapes for a user, and the staff-only user management serializer."""
from django.contrib.auth import password_validation
from rest_framework import serializers

from users.models import PresenceSession, User
from users.services.accounts import update_user_account
from users.services.presence_cursor import Cursor, InvalidCursor
from users.services.presence_selectors import effective_status


class UserSerializer(serializers.ModelSerializer):
    """A user as the caller sees themself, with the effective presence status."""

    online_status = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ("id", "username", "email", "first_name", "last_name", "is_staff", "online_status", "last_seen")
        read_only_fields = fields

    def get_online_status(self, user: User) -> str:
        return effective_status(user)


class AdminUserSerializer(serializers.ModelSerializer):
    """User management for staff; presence fields and is_active are read-only (they change through services)."""

    online_status = serializers.SerializerMethodField()
    password = serializers.CharField(write_only=True, required=False, min_length=8, max_length=128, trim_whitespace=False)

    class Meta:
        model = User
        fields = (
            "id", "username", "email", "first_name", "last_name", "is_staff", "is_active",
            "online_status", "last_seen", "date_joined", "password",
        )
        read_only_fields = ("id", "is_active", "online_status", "last_seen", "date_joined")

    def get_online_status(self, user: User) -> str:
        return effective_status(user)

    def validate_password(self, value: str) -> str:
        # The same rules as Django's own password forms (settings.AUTH_PASSWORD_VALIDATORS).
        password_validation.validate_password(value, user=self.instance)
        return value

    def validate(self, attrs):
        if self.instance is None and not attrs.get("password"):
            raise serializers.ValidationError({"password": ["This field is required."]}, code="required")
        return attrs

    def create(self, validated_data):
        password = validated_data.pop("password")
        return User.objects.create_user(password=password, **validated_data)

    def update(self, instance, validated_data):
        return update_user_account(instance, **validated_data)


class HeartbeatSerializer(serializers.Serializer):
    """An optional `state`: `active` (the default) while the user is at the device, `idle` after PRESENCE_IDLE_SECONDS without input."""

    state = serializers.ChoiceField(choices=PresenceSession.State.values, required=False, default=PresenceSession.State.ACTIVE)


class PresenceVisibilitySerializer(serializers.Serializer):
    """PATCH body of the caller's presence: `invisible` hides their status from everyone but staff."""

    invisible = serializers.BooleanField(required=True)


class PresenceFeedQuerySerializer(serializers.Serializer):
    """Query of the presence feed: `since`, a cursor from an earlier answer; without it, everyone."""

    since = serializers.CharField(required=False, max_length=2048)

    def validate_since(self, value: str) -> Cursor:
        try:
            return Cursor.parse(value)
        except InvalidCursor:
            raise serializers.ValidationError("Not a presence cursor from this server.", code="invalid")


class AllUsersQuerySerializer(serializers.Serializer):
    """Query parameters of the all-users list."""

    status = serializers.ChoiceField(choices=User.OnlineStatus.values, required=False)
