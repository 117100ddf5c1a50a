"""Celery tasks; each one calls a service."""

import logging
import time

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from offchat_backend.unavailable import is_outage
from users.auth import revocation
from users.presence import sweep_record
from users.services import simple_online_status

logger = logging.getLogger(__name__)


@shared_task(
    name="users.tasks.check_and_mark_offline_users",
    ignore_result=True,
    # A sweep still queued when the next one is due is pointless: drop it rather than pile up.
    expires=settings.PRESENCE_SWEEP_SECONDS,
)
def check_and_mark_offline_users() -> int | None:
    """Beat entry: mark offline the users silent for longer than PRESENCE_TIMEOUT_SECONDS, then record the sweep."""
    started = time.monotonic()
    try:
        marked = simple_online_status.check_and_mark_offline_users()
        # Recorded only once the sweep committed: /healthz reads its time as beat freshness.
        sweep_record.record_completed_sweep(duration_seconds=time.monotonic() - started, marked_offline=marked)
        revocation.forget_expired_revocations()
    except DatabaseError as exc:
        if not is_outage(exc):
            raise
        # One line per sweep, not a traceback: the next beat tick sweeps again, and reads stay right meanwhile.
        logger.warning("sweep skipped: database unavailable (%s)", exc)
        return None
    return marked
