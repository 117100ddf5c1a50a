"""GET /metrics: Prometheus text with request metrics, users online, sweep duration and users marked offline."""

import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from users import tasks

pytestmark = pytest.mark.django_db


def scrape(api) -> dict[str, float]:
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, 0.0)
            samples[sample.name] += sample.value
    return samples


def test_users_online_is_the_effective_count_at_scrape_time(api, make_user, login, set_presence, clock):
    login(make_user(username="on1"))
    login(make_user(username="on2"))
    set_presence(make_user(username="ghost"), online_status="online", last_seen=clock.ago(3600))  # stale: not online
    assert scrape(api)["offchat_users_online"] == 2


def test_sweep_metrics_follow_the_sweeps(api, make_user, set_presence, clock):
    assert "offchat_sweeps_total" not in scrape(api)  # no sweep yet
    for name in ("late1", "late2", "late3"):
        set_presence(make_user(username=name), online_status="online", last_seen=clock.ago(3600))
    tasks.check_and_mark_offline_users.delay()
    tasks.check_and_mark_offline_users.delay()

    samples = scrape(api)
    assert samples["offchat_sweeps_total"] == 2
    assert samples["offchat_sweep_marked_offline_total"] == 3
    assert samples["offchat_sweep_last_marked_offline"] == 0
    assert samples["offchat_sweep_last_duration_seconds"] >= 0
    assert samples["offchat_sweep_last_completed_timestamp_seconds"] == clock.current.timestamp()


def test_request_metrics_count_requests_by_view_and_status(api, make_user, login):
    before = scrape(api).get("django_http_responses_total_by_status_total", 0)
    login(make_user(username="counted"))
    api.post("/api/users/login/", {"username": "counted", "password": "wrong"}, format="json")
    after = scrape(api)
    assert after["django_http_responses_total_by_status_total"] >= before + 3  # two logins and one scrape
    assert after["django_http_requests_latency_seconds_by_view_method_count"] > 0


def test_promtool_finds_nothing_to_lint_with_every_family_present(api, make_user, login):
    """Prometheus's own linter (`promtool check metrics`) on a scrape that holds every family, sweeps included."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is missing (apt-get install prometheus); .ci/run installs it")
    login(make_user(username="linted"))
    tasks.check_and_mark_offline_users.delay()
    body = api.get("/metrics").content
    assert b"offchat_sweeps_total" in body and b"offchat_users_online" in body

    checked = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)

    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert checked.stdout.decode().strip() == "" and checked.stderr.decode().strip() == ""  # no lint findings
