"""GET /metrics for Prometheus: django-prometheus's request metrics plus presence figures read at scrape time.

Presence figures come from the database when scraped (users online, the sweep record the worker
writes), so they are right whichever process swept and however many web processes serve /metrics.
Request metrics are per process unless PROMETHEUS_MULTIPROC_DIR is set (gunicorn with several workers).
"""
import os

from django.http import HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from users.services import sweep_record
from users.services.presence_selectors import online_users


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
            "offchat_sweep_last_marked_offline", "Users the last completed sweep marked offline.", value=last.marked_offline
        )
        yield GaugeMetricFamily(
            "offchat_sweep_last_completed_timestamp_seconds", "When the last sweep completed (Unix time).",
            value=last.finished_at.timestamp(),
        )
        yield CounterMetricFamily("offchat_sweeps", "Completed sweeps.", value=last.sweeps_total)
        yield CounterMetricFamily(
            "offchat_sweep_marked_offline", "Users marked offline by sweeps.", value=last.marked_offline_total
        )


_presence_registry = CollectorRegistry(auto_describe=False)
_presence_registry.register(PresenceCollector())


def _process_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics(request):
    """The Prometheus text exposition: request metrics of this server, presence figures of the whole system."""
    body = generate_latest(_process_registry()) + generate_latest(_presence_registry)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
