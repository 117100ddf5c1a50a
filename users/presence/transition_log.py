"""One log line per presence transition (key=value), under the one logger operators grep for."""

import logging
from collections.abc import Iterable
from datetime import datetime

from users.presence.rules import OFFLINE

logger = logging.getLogger(__name__)


def log_transitions(rows: Iterable[tuple[int, str]], *, reason: str, **extra) -> None:
    """A line per (user id, new status) row: `presence user_id=42 status=offline reason=logout`."""
    suffix = "".join(f" {key}={value}" for key, value in extra.items())
    for user_id, status in rows:
        logger.info("presence user_id=%s status=%s reason=%s%s", user_id, status, reason, suffix)


def log_sweep(moved: list[tuple[int, str]], *, sessions_deleted: int, cutoff: datetime) -> None:
    """A line per user the sweep moved, then one summary line per sweep that changed anything."""
    cutoff_text = cutoff.isoformat()  # once, not once per user: a sweep can move thousands
    log_transitions(moved, reason="timeout", cutoff=cutoff_text)
    if moved or sessions_deleted:
        offline = sum(status == OFFLINE for _, status in moved)
        logger.info(
            "presence sweep marked_offline=%s marked_away=%s sessions_deleted=%s reason=timeout cutoff=%s",
            offline,
            len(moved) - offline,
            sessions_deleted,
            cutoff_text,
        )
