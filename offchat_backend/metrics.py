"""GET /metrics for Prometheus: django-prometheus's request metrics plus presence figures read at scrape time.

Presence figures come from the database when scraped (users online, the sweep record the worker
writes), so they are right whichever process swept and however many web processes serve /metrics.
Request metrics are per process unless PROMETHEUS_MULTIPROC_DIR is set (gunicorn with several workers).
With METRICS_BEARER_TOKEN set, only a scraper sending that token gets an answer.
"""

import hmac
import os

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from offchat_backend import redis_breaker
from users.api_errors import json_methods
from users.presence import sweep_record
from users.presence.selectors import online_users


class PresenceCollector:
    """Users online now and the last sweep, from the database."""

    def collect(self):
        yield GaugeMetricFamily("offchat_users_online", "Users effectively online now.", value=online_users().count())
        last = sweep_record.last_sweep()
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


class RedisBreakerCollector:
    """This process's Redis breaker: its state and its transitions (offchat_backend/redis_breaker.py)."""

    def collect(self):
        state = GaugeMetricFamily(
            "offchat_redis_breaker_state", "1 for the breaker's current state in this process.", labels=["state"]
        )
        current = redis_breaker.state()
        for name in ("closed", "open", "half-open"):
            state.add_metric([name], 1 if current == name else 0)
        yield state
        transitions = CounterMetricFamily(
            "offchat_redis_breaker_transitions", "State changes of this process's Redis breaker.", labels=["from", "to"]
        )
        for (old, new), count in sorted(redis_breaker.transitions.transitions.items()):
            transitions.add_metric([old, new], count)
        yield transitions


_presence_registry = CollectorRegistry(auto_describe=False)
_presence_registry.register(PresenceCollector())
_presence_registry.register(RedisBreakerCollector())


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
