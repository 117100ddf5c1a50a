"""GET /healthz: database, Redis (when configured) and beat freshness; 200 healthy, 503 naming the failing part.
Database and Redis outages are proven against real servers in tests/faults/."""

import pytest

from users import tasks
from users.models import SweepRecord

pytestmark = pytest.mark.django_db


def test_healthy_before_any_sweep_reports_beat_starting(api):
    response = api.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert body["checks"]["database"] == "ok" and body["checks"]["beat"] == "starting"


def test_no_sweep_for_longer_than_the_limit_since_start_fails_beat_never(api, clock, settings):
    settings.HEALTHZ_BEAT_MAX_AGE_SECONDS = 210
    clock.advance(211)
    response = api.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["beat"] and response.json()["checks"]["beat"] == "never"


def test_livez_asks_no_dependency(api, clock, settings):
    settings.HEALTHZ_BEAT_MAX_AGE_SECONDS = 210
    clock.advance(211)  # readiness fails (beat never came); liveness does not
    response = api.get("/livez")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_healthz_is_readyz(api):
    assert api.get("/healthz").json() == api.get("/readyz").json()


def test_a_completed_sweep_is_reported_with_its_time(api, clock):
    tasks.check_and_mark_offline_users.delay()
    body = api.get("/healthz").json()
    assert body["checks"]["beat"] == "ok"
    assert body["beat"]["last_sweep_at"] == clock.current.isoformat()


def test_a_stale_last_sweep_fails_beat_with_503(api, clock, settings):
    settings.HEALTHZ_BEAT_MAX_AGE_SECONDS = 210
    tasks.check_and_mark_offline_users.delay()
    clock.advance(209)
    assert api.get("/healthz").status_code == 200

    clock.advance(2)
    response = api.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["beat"] and response.json()["checks"]["beat"] == "stale"
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_sweep_record_counts_every_sweep_and_every_user_marked(make_user, set_presence, clock):
    for name in ("s1", "s2"):
        set_presence(make_user(username=name), online_status="online", last_seen=clock.ago(3600))
    tasks.check_and_mark_offline_users.delay()
    tasks.check_and_mark_offline_users.delay()
    record = SweepRecord.objects.get()
    assert (record.sweeps_total, record.marked_offline_total, record.marked_offline) == (2, 2, 0)
    assert record.finished_at == clock.current and record.duration_seconds >= 0
