"""The benchmark suite (`make bench`): presence paths against their baselines, on PostgreSQL, Redis and gunicorn."""
