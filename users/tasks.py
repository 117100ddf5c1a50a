"""Celery tasks; each one calls a service."""
from celery import shared_task
from django.conf import settings

from users.services import simple_online_status


@shared_task(
    name="users.tasks.check_and_mark_offline_users",
    ignore_result=True,
    # A sweep still queued when the next one is due is pointless: drop it rather than pile up.
    expires=settings.PRESENCE_SWEEP_SECONDS,
)
def check_and_mark_offline_users() -> int:
    """Beat entry: mark offline the users silent for longer than PRESENCE_TIMEOUT_SECONDS."""
    return simple_online_status.check_and_mark_offline_users()
