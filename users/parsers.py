"""The JSON parser: DRF's, plus a size limit and no 500 on absurdly nested input."""

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "request_too_large"


class BoundedJSONParser(JSONParser):
    """Refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE with 413, and nesting too deep to parse with 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        # DRF reads the body from the stream, so Django's own DATA_UPLOAD_MAX_MEMORY_SIZE check
        # (done in request.body) never runs; check the declared length before reading a byte.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            length = 0
        if limit is not None and length > limit:
            raise RequestTooLarge(f"Request body too large: the limit is {limit} bytes.")
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
