"""GET all-users: every user's effective presence, fresh from the database, never cached."""
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from users.api_schema import error_response
from users.renderers import FastJSONRenderer
from users.serializers.responses import AllUsersEntrySerializer
from users.serializers.users import AllUsersQuerySerializer
from users.services.presence_selectors import list_users_for_viewer


@extend_schema(
    parameters=[AllUsersQuerySerializer],
    responses={200: AllUsersEntrySerializer(many=True), 400: error_response("`status` is neither online nor offline (`invalid`).")},
)
@method_decorator(never_cache, name="dispatch")
class AllUsersView(APIView):
    """The list the admin panel polls; `?status=online|offline` filters by effective status."""

    # 10k users make a 2 MB body: the stdlib encoder alone would take half the request time.
    renderer_classes = [FastJSONRenderer]

    def get(self, request):
        query = AllUsersQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(list_users_for_viewer(request.user, status=query.validated_data.get("status")))
