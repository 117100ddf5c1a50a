"""The caller's own presence (status, devices, invisible mode) and the incremental presence feed."""
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from users.api_schema import error_response
from users.serializers.responses import OwnPresenceSerializer, PresenceFeedSerializer
from users.serializers.users import PresenceFeedQuerySerializer, PresenceVisibilitySerializer
from users.services import session_revocation
from users.services.presence_cursor import InvalidCursor
from users.services.presence_selectors import own_presence, presence_changes, presence_snapshot
from users.services.simple_online_status import set_user_invisible


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
        return session_revocation.session_id(request.auth) if request.auth is not None else None


@extend_schema(
    parameters=[PresenceFeedQuerySerializer],
    responses={200: PresenceFeedSerializer, 400: error_response("`since` is not a cursor this server issued (`invalid`).")},
)
class PresenceFeedView(APIView):
    """GET ?since=<cursor>: `{cursor, full, users}`, the users whose visible presence changed after the cursor.

    Without `since`, every user (`full: true`). Each entry has the all-users shape; apply it over
    what you hold (an entry replaces or adds that user; a user never sent keeps their last known
    state), then ask again with the returned cursor. Every change shows up: logins, heartbeats that
    change a status, idle, logouts, invisible mode, timeouts (also before the sweep has run), new
    accounts, and account edits (names; for staff also email, is_staff, is_active). Users are
    deactivated, never deleted, so no entry ever has to be removed.
    """

    def get(self, request):
        query = PresenceFeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        since = query.validated_data.get("since")
        if since is None:
            cursor, users = presence_snapshot(request.user)
        else:
            try:
                cursor, users = presence_changes(request.user, since)
            except InvalidCursor:
                raise ValidationError(
                    {"since": [ErrorDetail("This cursor is ahead of the server (its data was restored or reset): "
                                           "read again without `since`.", code="invalid")]}
                )
        return Response({"cursor": str(cursor), "full": since is None, "users": users})
