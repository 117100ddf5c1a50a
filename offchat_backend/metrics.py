"""GET /metrics for Prometheus: django-prometheus's request metrics plus presence figures read at scrape time.

Presence figures come from the database when scraped (users online, the sweep record the worker
writes), so they are right whichever process swept and however many web processes serve /metrics.
Request metrics are per process unless PROMETHEUS_MULTIPROC_DIR is set (gunicorn with several workers).
With METRICS_BEARER_TOKEN set, only a scraper sending that token gets an answer.
"""

import hmac
import os

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from offchat_backend import db_breaker, redis_breaker
from offchat_backend.unavailable import is_outage
from users.api_errors import json_methods
from users.presence import sweep_record
from users.presence.selectors import online_users


class PresenceCollector:
    """Users online now and the last sweep, from the database; nothing while the database is away."""

    def collect(self):
        try:
            online = online_users().count()
            last = sweep_record.last_sweep()
        except DatabaseError as exc:
            if not is_outage(exc):
                raise
            return  # the scrape still answers, with the breaker's state saying why these are missing
        yield GaugeMetricFamily("offchat_users_online", "Users effectively online now.", value=online)
        if last is None:
            return
        yield GaugeMetricFamily(
            "offchat_sweep_last_duration_seconds", "Duration of the last completed sweep.", value=last.duration_seconds
        )
        yield GaugeMetricFamily(
            "offchat_sweep_last_marked_offline",
            "Users the last completed sweep marked offline.",
            value=last.marked_offline,
        )
        yield GaugeMetricFamily(
            "offchat_sweep_last_completed_timestamp_seconds",
            "When the last sweep completed (Unix time).",
            value=last.finished_at.timestamp(),
        )
        yield CounterMetricFamily("offchat_sweeps", "Completed sweeps.", value=last.sweeps_total)
        yield CounterMetricFamily(
            "offchat_sweep_marked_offline", "Users marked offline by sweeps.", value=last.marked_offline_total
        )


def _breaker_families(dependency: str, label: str, current: str, transitions: dict[tuple[str, str], int]):
    """A breaker's state (one gauge per state, 1 for the current one) and its transitions, for this process."""
    state = GaugeMetricFamily(
        f"offchat_{dependency}_breaker_state",
        f"1 for the {label} breaker's current state in this process.",
        labels=["state"],
    )
    for name in ("closed", "open", "half-open"):
        state.add_metric([name], 1 if current == name else 0)
    yield state
    counted = CounterMetricFamily(
        f"offchat_{dependency}_breaker_transitions",
        f"State changes of this process's {label} breaker.",
        labels=["from", "to"],
    )
    for (old, new), count in sorted(transitions.items()):
        counted.add_metric([old, new], count)
    yield counted


class BreakerCollector:
    """This process's breakers: Redis (offchat_backend/redis_breaker.py) and the database (db_breaker.py)."""

    def collect(self):
        yield from _breaker_families("redis", "Redis", redis_breaker.state(), redis_breaker.transitions.transitions)
        yield from _breaker_families("database", "database", db_breaker.state(), db_breaker.breaker.transitions)


_presence_registry = CollectorRegistry(auto_describe=False)
_presence_registry.register(PresenceCollector())
_presence_registry.register(BreakerCollector())


def _process_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _refusal(request) -> JsonResponse | None:
    """A JSON 401 unless the request carries the configured bearer token; None when it may scrape."""
    expected = settings.METRICS_BEARER_TOKEN
    if not expected:
        return None  # open, as documented: restrict it at the proxy
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        body = {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"}
    # Constant time: how long the comparison takes says nothing about how much of the token matched.
    elif hmac.compare_digest(given.strip().encode(), expected.encode()):
        return None
    else:
        body = {"detail": "Incorrect authentication credentials.", "code": "authentication_failed"}
    response = JsonResponse(body, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@json_methods("GET")
def metrics(request):
    """The Prometheus text exposition: request metrics of this server, presence figures of the whole system."""
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    body = generate_latest(_process_registry()) + generate_latest(_presence_registry)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
