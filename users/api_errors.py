"""JSON errors everywhere: DRF's exception handler, and Django's 404/500 handlers for non-DRF paths."""

import functools
import sys

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.views import exception_handler

from offchat_backend.unavailable import is_outage, service_unavailable


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        if "detail" in detail:
            return _first_message(detail["detail"])
        field, value = next(iter(detail.items()))
        return f"{field}: {_first_message(value)}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def json_exception_handler(exc, context):
    """DRF's handler, with every body shaped as {detail, code} plus per-field `errors` for bad input."""
    # DRF converts these two inside exception_handler; converting them first gives them a real code.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = exception_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's handler500 answers with JSON
    data = response.data
    body = {"detail": _first_message(data), "code": _code_of(exc, data)}
    if isinstance(exc, exceptions.ValidationError) and isinstance(data, dict):
        body["errors"] = data
    elif isinstance(exc, exceptions.ValidationError) and isinstance(data, list):
        body["errors"] = {"non_field_errors": data}
    response.data = body
    return response


def _code_of(exc, data) -> str:
    if isinstance(data, dict) and isinstance(data.get("code"), str):
        return data["code"]
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    return codes if isinstance(codes, str) else "error"


@csrf_exempt  # a POST to a path that does not exist is a 404, never a CSRF page
def not_found(request, exception=None):
    """JSON 404 for any path no route matches."""
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)


def json_methods(*methods: str):
    """A view that answers only `methods` (HEAD with GET) and a JSON 405 naming them otherwise; CSRF-exempt (no form)."""
    allowed = set(methods) | ({"HEAD"} if "GET" in methods else set())

    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method not in allowed:
                response = JsonResponse(
                    {"detail": f'Method "{request.method}" not allowed.', "code": "method_not_allowed"}, status=405
                )
                response["Allow"] = ", ".join(sorted(allowed))
                return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def request_too_large() -> JsonResponse:
    """The JSON 413 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE."""
    return JsonResponse(
        {
            "detail": f"Request body too large: the limit is {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
            "code": "request_too_large",
        },
        status=413,
    )


class RequestSizeLimitMiddleware:
    """A declared body over DATA_UPLOAD_MAX_MEMORY_SIZE gets the JSON 413 before anything reads it (DEBUG or not)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and declared > limit:
            return request_too_large()
        return self.get_response(request)


def server_error(request):
    """JSON 500, with no stack trace in the body; JSON 503 when the cause is a database outage."""
    # Django calls this inside its `except` block, so the exception is still at hand; this
    # catches outages raised outside a view (in a middleware), which process_exception cannot.
    if is_outage(sys.exc_info()[1]):
        return service_unavailable()
    return JsonResponse({"detail": "Internal server error.", "code": "server_error"}, status=500)


def bad_request(request, exception=None):
    """JSON 400 for requests Django itself rejects (a bad Host header, say); 413 for a body over the limit."""
    if isinstance(exception, RequestDataTooBig):  # raised wherever request.body is read first
        return request_too_large()
    return JsonResponse({"detail": "Bad request.", "code": "bad_request"}, status=400)


def permission_denied(request, exception=None):
    """JSON 403 for requests Django itself refuses."""
    return JsonResponse({"detail": "Permission denied.", "code": "permission_denied"}, status=403)
