"""ASGI entry point: the API over HTTP and the presence socket; defaults to the production settings."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "offchat_backend.settings.production")
# Requests run under the statement and lock timeouts (settings/base.py); management commands do not.
os.environ.setdefault("OFFCHAT_SERVES_REQUESTS", "true")
# Django's apps load before anything imports models (the socket's routing does).
django_application = get_asgi_application()

from offchat_backend.postgresql.base import guard  # noqa: E402

guard()  # every database wait bounded, the breaker in front (HTTP, the socket's hub and consumers)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from offchat_backend import daphne_tuning  # noqa: E402
from users.sockets.origin import PresenceOriginValidator  # noqa: E402
from users.sockets.routing import websocket_urlpatterns  # noqa: E402

daphne_tuning.install()
application = ProtocolTypeRouter(
    {"http": django_application, "websocket": PresenceOriginValidator(URLRouter(websocket_urlpatterns))}
)
