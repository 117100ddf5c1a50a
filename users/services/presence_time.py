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


# How long a presence write may take between reading the clock and committing, and how far two
# servers' clocks may disagree. The change feed looks this far back and writes settle this far
# ahead (presence_status.unchanged_for_readers), so neither a slow commit nor a skewed clock makes
# the feed skip a change; the price is that a change near the edge may be sent twice.
FEED_MARGIN = timedelta(seconds=10)


def retention_cutoff(at: datetime | None = None) -> datetime:
    """Ended sessions older than this instant are deleted by the sweep."""
    return (at or now()) - timedelta(seconds=settings.PRESENCE_SESSION_RETENTION_SECONDS)
