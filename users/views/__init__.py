"""Login and logout: validate the input, start or end a session, answer with JSON."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from users.api_schema import error_response
from users.auth.logins import log_in, log_out, log_out_everywhere
from users.presence.rules import effective_status
from users.presence.selectors import presence_settings
from users.serializers.auth import (
    LoginResponseSerializer,
    LoginSerializer,
    LogoutAllResponseSerializer,
    LogoutResponseSerializer,
    LogoutSerializer,
)
from users.serializers.users import UserSerializer
from users.throttling import LoginIPRateThrottle, LoginUsernameRateThrottle


@extend_schema(
    # No security at all: spectacular writes `[{}]` for AllowAny, which generated clients read as "token required".
    auth=[],
    request=LoginSerializer,
    responses={
        200: LoginResponseSerializer,
        401: error_response("Bad or inactive credentials (`no_active_account`)."),
    },
)
class LoginView(APIView):
    """POST {username, password, device_id?}: tokens, the user, and the presence intervals; opens a presence session."""

    permission_classes = [AllowAny]
    # A stale Authorization header must not stop anyone from logging in again.
    authentication_classes: list = []
    # Per IP and per username: 429 with Retry-After (users/throttling.py).
    throttle_classes = [LoginIPRateThrottle, LoginUsernameRateThrottle]

    def get_authenticate_header(self, request) -> str:
        # Without an authentication class DRF turns a failed login into 403; the API promises 401.
        return 'Bearer realm="api"'

    def post(self, request):
        serializer = LoginSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        refresh = log_in(serializer.user, device_id=serializer.validated_data["device_id"])
        return Response(
            {
                "access": str(refresh.access_token),
                "refresh": str(refresh),
                "user": UserSerializer(serializer.user).data,
                "presence": presence_settings(),
            },
            status=status.HTTP_200_OK,
        )


@extend_schema(request=LogoutSerializer, responses=LogoutResponseSerializer)
class LogoutView(APIView):
    """POST {refresh?}: revokes this session's tokens and ends its presence; the caller stays online on other devices."""

    permission_classes = [IsAuthenticated]

    def post(self, request):
        serializer = LogoutSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        log_out(request.user, access_token=request.auth, refresh_token=serializer.validated_data.get("refresh"))
        return Response({"detail": "Logged out.", "online_status": effective_status(request.user)})


@extend_schema(request=None, responses=LogoutAllResponseSerializer)
class LogoutAllView(APIView):
    """POST: ends every session of the caller and revokes all their tokens; offline at once."""

    permission_classes = [IsAuthenticated]

    def post(self, request):
        ended = log_out_everywhere(request.user)
        return Response(
            {
                "detail": "Logged out everywhere.",
                "online_status": effective_status(request.user),
                "sessions_ended": ended,
            }
        )
