"""/metrics under README's HTTP-only gunicorn command (3 workers): every scrape counts every worker's requests.

Without PROMETHEUS_MULTIPROC_DIR each scrape shows the counters of the one worker that answered it.
"""

import re
import sys
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live.conftest import Api, free_port, wait_until, wait_until_healthy

pytestmark = pytest.mark.live

REQUESTS = 60
CLIENTS = 6
# Each worker is replaced after this many requests (as after a crash or a timeout in production), so no
# single process can serve all REQUESTS, whichever worker the kernel hands the connections to.
MAX_REQUESTS_PER_WORKER = 25
SCRAPES = 5
BY_VIEW = "django_http_requests_total_by_view_transport_method_total"
BY_STATUS = "django_http_responses_total_by_status_view_method_total"
# The worker's pid on each access-log line tells which worker served which request.
ACCESS_LOG_FORMAT = "served-by=%(p)s %(r)s %(s)s"


def gunicorn_http_only_command(port: int) -> list[str]:
    """README's HTTP-only deployment (gunicorn, 3 workers), with this virtualenv's gunicorn, on 127.0.0.1:<port>."""
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    return [gunicorn, "offchat_backend.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "3"] + [
        "--access-logfile",
        "-",
        "--access-logformat",
        ACCESS_LOG_FORMAT,
        "--max-requests",
        str(MAX_REQUESTS_PER_WORKER),
    ]


def scrape(base_url: str) -> dict[tuple[str, str], float]:
    """One GET /metrics: each request counter summed over all its samples, by (metric, view[/status])."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=15) as response:
        assert response.status == 200
        text = response.read().decode()
    totals: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (BY_VIEW, BY_STATUS):
                key = (sample.name, "/".join(filter(None, (sample.labels["view"], sample.labels.get("status")))))
                totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def test_every_scrape_counts_the_requests_of_all_workers_including_replaced_ones(start_process, live_env, tmp_path):
    live_env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prometheus")
    (tmp_path / "prometheus").mkdir()
    port = free_port()
    argv = gunicorn_http_only_command(port)
    assert argv[argv.index("--workers") + 1] == "3"
    server = start_process("web", argv)
    api = Api(f"http://127.0.0.1:{port}")
    wait_until_healthy(api, server)

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(lambda _: api.call("GET", "/api/users/all-users/")[0], range(REQUESTS)))
    assert statuses == [401] * REQUESTS

    # The premise: no single worker's own counters hold all the requests.
    def served_by() -> Counter:
        return Counter(re.findall(r"served-by=<(\d+)> GET /api/users/all-users/ ", server.log()))

    wait_until(lambda: sum(served_by().values()) == REQUESTS, timeout=10, describe=server.describe)
    assert max(served_by().values()) < REQUESTS, server.describe()

    for number in range(1, SCRAPES + 1):
        totals = scrape(api.base_url)
        assert totals[(BY_VIEW, "all-users")] == REQUESTS, (number, totals)
        assert totals[(BY_STATUS, "all-users/401")] == REQUESTS, (number, totals)
        # This scrape is counted before /metrics renders; the answered ones after they were sent.
        assert totals[(BY_VIEW, "metrics")] == number, (number, totals)
        assert totals.get((BY_STATUS, "metrics/200"), 0) == number - 1, (number, totals)
