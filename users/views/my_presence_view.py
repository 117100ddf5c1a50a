"""GET, PATCH me/presence: the caller's own status, devices and invisible mode."""

from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.response import Response
from rest_framework.views import APIView

from users.auth import revocation
from users.presence.selectors import own_presence
from users.serializers.presence import OwnPresenceSerializer, PresenceVisibilitySerializer
from users.services.simple_online_status import set_user_invisible


@method_decorator(never_cache, name="dispatch")  # private, no-store: per-caller answers
@extend_schema_view(
    get=extend_schema(responses=OwnPresenceSerializer),
    patch=extend_schema(request=PresenceVisibilitySerializer, responses=OwnPresenceSerializer),
)
class MyPresenceView(APIView):
    """GET: the caller's real status, `invisible` flag and open sessions. PATCH {invisible}: hide or show their presence.

    While invisible, everyone but staff sees the caller `offline`, last seen when they went
    invisible; staff see the real status with `invisible: true`.
    """

    def get(self, request):
        return Response(own_presence(request.user, current_sid=self._sid(request)))

    def patch(self, request):
        body = PresenceVisibilitySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        set_user_invisible(request.user.pk, body.validated_data["invisible"])
        request.user.refresh_from_db(fields=["invisible_since"])
        return Response(own_presence(request.user, current_sid=self._sid(request)))

    @staticmethod
    def _sid(request) -> str | None:
        return revocation.session_id(request.auth) if request.auth is not None else None
