"""GET presence: the incremental presence feed, everyone or the changes since a cursor."""

from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from users.api_schema import error_response
from users.presence.scope import EVERYONE
from users.presence.selectors import presence_changes, presence_snapshot
from users.presence.sequence import InvalidCursor
from users.serializers.presence import PresenceFeedQuerySerializer, PresenceFeedSerializer


@method_decorator(never_cache, name="dispatch")  # private, no-store: per-caller answers
@extend_schema(
    parameters=[PresenceFeedQuerySerializer],
    responses={
        200: PresenceFeedSerializer,
        400: error_response("`since` is not a cursor this server issued (`invalid`)."),
    },
)
class PresenceFeedView(APIView):
    """GET ?since=<cursor>&users=<ids>: `{cursor, full, users}`, the users whose visible presence changed after the cursor.

    Without `since`, every user (`full: true`); with `users`, only those (the socket's watch list, for
    clients that cannot hold one). Each entry has the all-users shape; apply it over
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
        scope = query.validated_data.get("users", EVERYONE)
        if since is None:
            cursor, users = presence_snapshot(request.user, scope)
        else:
            try:
                cursor, users = presence_changes(request.user, since, scope)
            except InvalidCursor:
                raise ValidationError(
                    {
                        "since": [
                            ErrorDetail(
                                "This cursor is ahead of the server (its data was restored or reset): "
                                "read again without `since`.",
                                code="invalid",
                            )
                        ]
                    }
                ) from None
        return Response({"cursor": str(cursor), "full": since is None, "users": users})
