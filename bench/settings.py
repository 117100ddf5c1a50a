"""Settings for the benchmark's server, worker and in-process runs: the base settings, DEBUG off, bench routes added."""

import warnings

import bench.statements  # noqa: E402, F401  (counts the statements a bench server sends: GET /bench/statements/)
from offchat_backend.settings.base import *  # noqa: F403
from offchat_backend.settings.base import MIDDLEWARE, env

# The bench database is throwaway and never reachable from outside 127.0.0.1.
SECRET_KEY = "bench-only-signing-key-not-a-secret-0123456789abcdef"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "bench.urls"

# The write-amplification baseline: the same stack with an UPDATE on every authenticated request.
if env.bool("BENCH_NAIVE_TOUCH", default=False):
    MIDDLEWARE = [
        "bench.baselines.NaiveTouchMiddleware" if name == "users.middleware.PresenceTouchMiddleware" else name
        for name in MIDDLEWARE
    ]

# The bench runs without collectstatic; WhiteNoise's warning about it is noise here.
warnings.filterwarnings("ignore", message="No directory at", module="django.core.handlers.base")
