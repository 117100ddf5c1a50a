"""GET all-users: every user's presence as the caller may see it, fresh from the database, with an ETag."""

import hashlib

from django.http import HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from django.utils.decorators import method_decorator
from django.utils.http import parse_etags
from django.views.decorators.cache import never_cache
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.views import APIView

from users.api_schema import error_response
from users.presence.selectors import list_users_for_viewer
from users.renderers import FastJSONRenderer
from users.serializers.presence import AllUsersEntrySerializer, AllUsersQuerySerializer


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110's If-None-Match: `*`, or any listed tag equal to `etag` by weak comparison (W/ ignored)."""
    if if_none_match.strip() == "*":
        return True
    return any(tag.removeprefix("W/") == etag for tag in parse_etags(if_none_match))


@extend_schema(
    parameters=[
        AllUsersQuerySerializer,
        OpenApiParameter(
            "If-None-Match",
            str,
            OpenApiParameter.HEADER,
            description="The ETag of a list you hold: 304 if it is still current.",
        ),
        OpenApiParameter(
            "ETag",
            str,
            OpenApiParameter.HEADER,
            response=[200, 304],
            description="A hash of the body; send it back in If-None-Match.",
        ),
    ],
    responses={
        200: AllUsersEntrySerializer(many=True),
        304: OpenApiResponse(description="Nothing the caller can see changed since the list with this ETag."),
        400: error_response("`status` is not online, away or offline (`invalid`)."),
    },
)
@method_decorator(never_cache, name="dispatch")
class AllUsersView(APIView):
    """The list the admin panel polls; `?status=online|away|offline` filters by the status the caller sees.

    The ETag is a hash of the body, so it changes whenever anything the caller would see changes,
    a status lapsing with time included; `If-None-Match` with the current one answers 304.
    """

    # 10k users make a 2 MB body: the stdlib encoder alone would take half the request time.
    renderer_classes = [FastJSONRenderer]

    def get(self, request):
        query = AllUsersQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        body = FastJSONRenderer().render(list_users_for_viewer(request.user, status=query.validated_data.get("status")))
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        if etag_matches(request.headers.get("If-None-Match", ""), etag):
            response = HttpResponseNotModified()
        else:
            response = HttpResponse(body, content_type="application/json")
        response["ETag"] = etag
        patch_vary_headers(response, ["Authorization"])
        return response
