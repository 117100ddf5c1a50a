"""The socket's URL, served beside the HTTP API (offchat_backend/asgi.py)."""

from django.urls import path

from users.sockets.consumer import PresenceConsumer
from users.sockets.protocol import PATH

websocket_urlpatterns = [path(PATH.lstrip("/"), PresenceConsumer.as_asgi())]
