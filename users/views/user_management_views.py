"""The heartbeat, the caller's own profile, and staff user management."""
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken

from users.api_schema import error_response
from users.models import PresenceSession, User
from users.serializers.responses import HeartbeatResponseSerializer
from users.serializers.users import AdminUserSerializer, HeartbeatSerializer, UserSerializer
from users.services.presence_selectors import effective_status, online_users
from users.services.accounts import activate_user, deactivate_user
from users.services.auth_sessions import SessionEnded, keep_session_alive


@extend_schema(request=HeartbeatSerializer, responses=HeartbeatResponseSerializer)
class HeartbeatView(APIView):
    """POST {state?}: this session is alive, `active` (default) or `idle`; answers the caller's resulting status."""

    def post(self, request):
        body = HeartbeatSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            written_at = keep_session_alive(request.user, access_token=request.auth, state=body.validated_data["state"])
        except SessionEnded:
            raise InvalidToken({"detail": "Token has been revoked.", "code": "token_revoked"})
        if body.validated_data["state"] == PresenceSession.State.ACTIVE:
            status_now = User.OnlineStatus.ONLINE
        else:
            # Idle: another device may still keep the user online, so read the derived status back.
            request.user.refresh_from_db(fields=["online_status", "last_seen", "last_active"])
            status_now = effective_status(request.user)
        # Keep the loaded row current so PresenceTouchMiddleware sees the write and skips its own.
        request.user.last_seen = written_at
        return Response({"online_status": status_now, "last_seen": written_at})


@extend_schema(responses=UserSerializer)
class MeView(APIView):
    """GET: the caller, with the effective presence status."""

    def get(self, request):
        return Response(UserSerializer(request.user).data)


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

    @extend_schema(responses=AdminUserSerializer(many=True))
    @action(detail=False, methods=["get"])
    def online(self, request):
        """Users who are effectively online now."""
        return Response(self.get_serializer(online_users(), many=True).data)

    @extend_schema(request=None, responses={200: AdminUserSerializer, 400: error_response("Staff cannot deactivate themselves (`invalid`).")})
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        """Deactivate the account: its tokens stop working and it goes offline at once."""
        user = self.get_object()
        if user.pk == request.user.pk:
            return Response(
                {"detail": "You cannot deactivate your own account.", "code": "invalid"},
                status=status.HTTP_400_BAD_REQUEST,
            )
        deactivate_user(user.pk)
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
