"""The heartbeat, the caller's own profile, and staff user management."""

from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken

from users.api_schema import error_response
from users.auth.logins import SessionEnded, heartbeat
from users.models import User
from users.presence.selectors import online_users
from users.serializers.presence import HeartbeatResponseSerializer, HeartbeatSerializer
from users.serializers.users import (
    AdminUserCreateSerializer,
    AdminUserSerializer,
    AdminUserUpdateSerializer,
    UserSerializer,
)
from users.services.accounts import SelfDeactivation, activate_user, deactivate_user


@extend_schema(request=HeartbeatSerializer, responses=HeartbeatResponseSerializer)
class HeartbeatView(APIView):
    """POST {state?}: this session is alive, `active` (default) or `idle`; answers the caller's resulting status."""

    def post(self, request):
        body = HeartbeatSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            status_now, last_seen = heartbeat(
                request.user, access_token=request.auth, state=body.validated_data["state"]
            )
        except SessionEnded:
            raise InvalidToken({"detail": "Token has been revoked.", "code": "token_revoked"}) from None
        return Response({"online_status": status_now, "last_seen": last_seen})


@method_decorator(never_cache, name="dispatch")  # private, no-store: per-caller answers
@extend_schema(responses=UserSerializer)
class MeView(APIView):
    """GET: the caller, with the effective presence status."""

    def get(self, request):
        return Response(UserSerializer(request.user).data)


@method_decorator(never_cache, name="dispatch")  # private, no-store: per-caller answers
class AdminUserViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Staff-only user management; users are deactivated, never deleted."""

    permission_classes = [IsAdminUser]
    serializer_class = AdminUserSerializer
    queryset = User.objects.order_by("id")
    # Requests have their own shapes (password required to create, everything optional to update);
    # every answer is AdminUserSerializer's.
    write_serializers = {"create": AdminUserCreateSerializer, "update": AdminUserUpdateSerializer}

    def get_serializer_class(self):
        return self.write_serializers.get(
            self.action, AdminUserUpdateSerializer if self.action == "partial_update" else AdminUserSerializer
        )

    @extend_schema(request=AdminUserCreateSerializer, responses={201: AdminUserSerializer})
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    @extend_schema(request=AdminUserUpdateSerializer, responses=AdminUserSerializer)
    def update(self, request, *args, **kwargs):
        return super().update(request, *args, **kwargs)

    @extend_schema(request=AdminUserUpdateSerializer, responses=AdminUserSerializer)
    def partial_update(self, request, *args, **kwargs):
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(responses=AdminUserSerializer(many=True))
    @action(detail=False, methods=["get"])
    def online(self, request):
        """Users who are effectively online now."""
        return Response(self.get_serializer(online_users(), many=True).data)

    @extend_schema(
        request=None,
        responses={200: AdminUserSerializer, 400: error_response("Staff cannot deactivate themselves (`invalid`).")},
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        """Deactivate the account: its tokens stop working and it goes offline at once."""
        user = self.get_object()
        try:
            deactivate_user(user.pk, actor_id=request.user.pk)
        except SelfDeactivation as refused:
            return Response({"detail": str(refused), "code": "invalid"}, status=status.HTTP_400_BAD_REQUEST)
        user.refresh_from_db()
        return Response(self.get_serializer(user).data)

    @extend_schema(request=None, responses=AdminUserSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        """Reactivate the account; it stays offline until the user logs in."""
        user = self.get_object()
        activate_user(user.pk)
        user.refresh_from_db()
        return Response(self.get_serializer(user).data)
