"""The presence clock and the instants derived from it (cutoffs, the feed margin)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

# How long a presence write may take between reading the clock and committing, and how far two
# servers' clocks may disagree. The feed looks this far back and writes settle this far ahead
# (rules.unchanged_for_readers), so neither a slow commit nor a skewed clock makes the feed skip
# a change; the price is that a change near the edge may be sent twice.
FEED_MARGIN = timedelta(seconds=10)


def now() -> datetime:
    """The current time; tests replace this attribute to move time."""
    return timezone.now()


def offline_cutoff(at: datetime | None = None) -> datetime:
    """Activity older than this instant means the user is offline."""
    return (at or now()) - timedelta(seconds=settings.PRESENCE_TIMEOUT_SECONDS)


def settled_cutoff(at: datetime) -> datetime:
    """Activity newer than this instant still counts at `at` + FEED_MARGIN: no reader can see it lapse yet."""
    return offline_cutoff(at + FEED_MARGIN)


def touch_cutoff(at: datetime | None = None) -> datetime:
    """A last_seen newer than this instant is fresh enough to skip a write."""
    return (at or now()) - timedelta(seconds=settings.PRESENCE_TOUCH_SECONDS)


def is_touch_due(last_seen: datetime | None) -> bool:
    """Whether a stored last_seen is stale enough to be worth refreshing."""
    return last_seen is None or last_seen < touch_cutoff()


def retention_cutoff(at: datetime | None = None) -> datetime:
    """Sessions ended (or silent) before this instant are deleted by the sweep."""
    return (at or now()) - timedelta(seconds=settings.PRESENCE_SESSION_RETENTION_SECONDS)
