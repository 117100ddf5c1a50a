"""The Celery app: configured from Django settings (CELERY_* keys), tasks found in installed apps."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "offchat_backend.settings.development")

app = Celery("offchat_backend")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
@signals.beat_init.connect
def bound_database_waits(**_):
    """The worker (its pool children are forked from it) and beat: every database wait bounded, the breaker in front."""
    from offchat_backend.postgresql.base import guard

    guard()
