"""The clock and the timeout arithmetic shared by presence writes and reads."""
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone


def now() -> datetime:
    """The current time; tests replace this attribute to move time."""
    return timezone.now()


def offline_cutoff(at: datetime | None = None) -> datetime:
    """Activity older than this instant means the user is offline."""
    return (at or now()) - timedelta(seconds=settings.PRESENCE_TIMEOUT_SECONDS)


def touch_cutoff(at: datetime | None = None) -> datetime:
    """A last_seen newer than this instant is fresh enough to skip a write."""
    return (at or now()) - timedelta(seconds=settings.PRESENCE_TOUCH_SECONDS)


def is_touch_due(last_seen: datetime | None) -> bool:
    """Whether a stored last_seen is stale enough to be worth refreshing."""
    return last_seen is None or last_seen < touch_cutoff()
