"""The Celery app: configured from Django settings (CELERY_* keys), tasks found in installed apps."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "offchat_backend.settings.development")

app = Celery("offchat_backend")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
