"""The handshake's Origin check: browsers from this API's hosts or its CORS origins; clients that send none."""

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.http.request import validate_host


class PresenceOriginValidator(OriginValidator):
    """Refuses a browser page of a foreign origin (cross-site WebSocket hijacking); apps without Origin pass."""

    def __init__(self, application):
        super().__init__(application, allowed_origins=[])

    def valid_origin(self, parsed_origin) -> bool:
        # Only browsers send Origin, and only browsers carry another site's page; a native client
        # or a script has no Origin and still needs a token to get anything.
        if parsed_origin is None:
            return True
        origin = f"{parsed_origin.scheme}://{parsed_origin.netloc}".lower()
        allowed = {o.lower().rstrip("/") for o in settings.CORS_ALLOWED_ORIGINS}
        return origin in allowed or validate_host(parsed_origin.hostname or "", settings.ALLOWED_HOSTS)
