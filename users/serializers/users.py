"""Users: the caller's own profile and staff user management."""

from django.contrib.auth import password_validation
from rest_framework import serializers

from users.models import User
from users.presence.rules import effective_status
from users.services.accounts import update_user_account


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
    password = serializers.CharField(
        write_only=True, required=False, min_length=8, max_length=128, trim_whitespace=False
    )

    class Meta:
        model = User
        fields = (
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "is_staff",
            "is_active",
            "online_status",
            "last_seen",
            "date_joined",
            "password",
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
