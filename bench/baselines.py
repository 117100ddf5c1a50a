"""The naive implementations the benchmark compares against; they exist only here, never in the app."""

from django.utils import timezone
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from users.models import User
from users.presence.selectors import with_effective_status


class NaiveTouchMiddleware:
    """Writes last_seen on every authenticated request: what PresenceTouchMiddleware avoids."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            User.objects.filter(pk=user.pk).update(last_seen=timezone.now())
        return response


class StatementsView(APIView):
    """The number of SQL statements this server process has sent (bench/statements.py)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        from bench import statements

        return Response({"statements": statements.sent()})


class PingView(APIView):
    """The stack's floor: routing, middleware and rendering, no authentication, no database."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"status": "ok"})


class BaselineUserSerializer(serializers.ModelSerializer):
    """The textbook list: a ModelSerializer over model instances, the same fields as the staff all-users list."""

    online_status = serializers.CharField(source="effective_status")
    invisible = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = (
            "id",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_staff",
            "is_active",
            "invisible",
            "online_status",
            "last_seen",
        )

    def get_invisible(self, user: User) -> bool:
        return user.invisible_since is not None


class BaselineAllUsersView(generics.ListAPIView):
    """GET the same list as /api/users/all-users/ (staff view) the plain DRF way."""

    serializer_class = BaselineUserSerializer
    pagination_class = None

    def get_queryset(self):
        return with_effective_status().order_by("id")
