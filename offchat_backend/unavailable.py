"""JSON 503 while the database does not answer, instead of a 500 with a stack trace."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5
OUTAGE_ERRORS = (OperationalError, InterfaceError)


def is_outage(exc: BaseException | None) -> bool:
    """A lost or refused database connection, as opposed to a bug in a query."""
    return isinstance(exc, OUTAGE_ERRORS)


def service_unavailable() -> JsonResponse:
    response = JsonResponse(
        {"detail": "The service is temporarily unavailable; try again shortly.", "code": "service_unavailable"},
        status=503,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """Turns a database outage raised by any view (DRF's included) into a JSON 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_outage(exception):
            return None
        # Django's CONN_HEALTH_CHECKS replaces the broken connection on the next request: no restart needed.
        logger.warning("database unavailable path=%s error=%s", request.path, type(exception).__name__)
        return service_unavailable()
