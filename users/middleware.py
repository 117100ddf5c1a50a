"""Refreshes last_seen on authenticated requests, at most once per user per PRESENCE_TOUCH_SECONDS."""
from users.services import presence_time, session_revocation
from users.services.simple_online_status import touch_presence


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
        # The row authentication loaded tells whether the stored time is still fresh:
        # most requests skip the write without another query (as Zulip does for presence).
        if presence_time.is_touch_due(user.last_seen):
            # A JWT request is activity of one session (device) too; the admin site's cookie session is not one.
            token = getattr(request, "auth", None)
            sid = session_revocation.session_id(token) if token is not None else None
            written_at = touch_presence(user.pk, sid)
            if written_at is not None:
                user.last_seen = written_at
        return response
