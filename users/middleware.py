"""Refreshes last_seen on authenticated requests, at most once per user per PRESENCE_TOUCH_SECONDS."""

from users.auth import revocation
from users.presence import clock
from users.services.simple_online_status import update_user_last_seen


class PresenceTouchMiddleware:
    """Records activity after the view; it never changes online_status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # DRF authenticates inside the view, so only now does request.user hold the JWT user.
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return response
        # The row authentication loaded tells whether the stored time is still fresh: most
        # requests skip the write without another query (as Zulip does for presence).
        if clock.is_touch_due(user.last_seen):
            # A JWT request is activity of one session (device); the admin site's cookie session is not one.
            token = getattr(request, "auth", None)
            written_at = update_user_last_seen(user.pk, revocation.session_id(token) if token is not None else None)
            if written_at is not None:
                user.last_seen = written_at
        return response
