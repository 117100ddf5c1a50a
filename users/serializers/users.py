"""Users: the caller's own profile and staff user management."""

from django.contrib.auth import password_validation
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from users.models import User
from users.presence.rules import STATUSES, effective_status
from users.services.accounts import update_user_account


class UserSerializer(serializers.ModelSerializer):
    """A user as the caller sees themself, with the effective presence status."""

    online_status = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ("id", "username", "email", "first_name", "last_name", "is_staff", "online_status", "last_seen")
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=STATUSES))
    def get_online_status(self, user: User) -> str:
        return effective_status(user)


ADMIN_FIELDS = (
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
)


class AdminUserSerializer(serializers.ModelSerializer):
    """A user as staff see them in answers: every field always sent; presence and is_active change through services."""

    online_status = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ADMIN_FIELDS
        read_only_fields = ADMIN_FIELDS

    @extend_schema_field(serializers.ChoiceField(choices=STATUSES))
    def get_online_status(self, user: User) -> str:
        return effective_status(user)


class StrictStrings:
    """Text fields take JSON strings only: DRF's CharField turns 7 or 2.5 into "7" and "2.5", which the schema rules out."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            wrong = {
                name: [serializers.ErrorDetail("Not a valid string.", code="invalid")]
                for name, field in self.fields.items()
                if isinstance(field, serializers.CharField)
                and not field.read_only
                and data.get(name) is not None
                and not isinstance(data.get(name), str)
            }
            if wrong:
                raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)


class AdminUserUpdateSerializer(StrictStrings, AdminUserSerializer):
    """PUT/PATCH by staff: any of username, email, names, is_staff, password (Django's password rules)."""

    password = serializers.CharField(
        write_only=True, required=False, min_length=8, max_length=128, trim_whitespace=False
    )

    class Meta(AdminUserSerializer.Meta):
        fields = ADMIN_FIELDS + ("password",)
        read_only_fields = ("id", "is_active", "online_status", "last_seen", "date_joined")
        extra_kwargs = {"username": {"required": False}}

    def validate_password(self, value: str) -> str:
        # The same rules as Django's own password forms (settings.AUTH_PASSWORD_VALIDATORS).
        password_validation.validate_password(value, user=self.instance)
        return value

    def update(self, instance, validated_data):
        return update_user_account(instance, **validated_data)


class AdminUserCreateSerializer(AdminUserUpdateSerializer):
    """POST by staff: a new account; username and password are required."""

    password = serializers.CharField(write_only=True, min_length=8, max_length=128, trim_whitespace=False)

    class Meta(AdminUserUpdateSerializer.Meta):
        extra_kwargs = {}

    def create(self, validated_data):
        password = validated_data.pop("password")
        return User.objects.create_user(password=password, **validated_data)
