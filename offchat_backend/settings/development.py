"""Development settings: DEBUG on, a throwaway secret, Celery runs tasks on a real worker."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
# Only for local runs; production.py requires SECRET_KEY from the environment.
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-development-only-key-change-me-0123456789abcdef")
CELERY_TASK_ALWAYS_EAGER = False
