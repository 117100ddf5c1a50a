"""PresenceTouchMiddleware (users/middleware.py): authenticated requests refresh last_seen, at most once per touch interval."""

import pytest
from django.test import Client

from users.services.simple_online_status import check_and_mark_offline_users
from users.tests.expectations import users_updates

pytestmark = pytest.mark.django_db

ME = "/api/users/me/"


@pytest.fixture
def touch_15(settings):
    settings.PRESENCE_TOUCH_SECONDS = 15
    settings.PRESENCE_TIMEOUT_SECONDS = 120
    return settings


@pytest.fixture
def alice(clock, user, client_for, touch_15):
    """Alice logged in at clock time (so online, last_seen = now)."""
    return client_for(user)


def test_a_jwt_request_refreshes_a_stale_last_seen(alice, user, clock, row):
    """Past the touch interval, GET /me/ with a Bearer token writes last_seen = now; status stays online."""
    clock.advance(16)

    assert alice.get(ME).status_code == 200

    stored = row(user)
    assert (stored.online_status, stored.last_seen) == ("online", clock.current)


def test_a_request_inside_the_touch_window_adds_no_query(alice, user, clock, row, capture_queries):
    """Within PRESENCE_TOUCH_SECONDS: no UPDATE on users, and nothing but the authentication query."""
    logged_in_at = clock.current
    clock.advance(14)

    with capture_queries() as captured:
        assert alice.get(ME).status_code == 200

    assert users_updates(captured) == []
    assert len(captured.captured_queries) == 1, captured.captured_queries  # the user row, loaded by authentication
    assert row(user).last_seen == logged_in_at


def test_a_stale_request_writes_exactly_once(alice, clock, capture_queries):
    """Past the interval the middleware adds one UPDATE of the calling session and one of users, no more."""
    clock.advance(60)

    with capture_queries() as captured:
        alice.get(ME)

    assert len(users_updates(captured)) == 1
    assert len(captured.captured_queries) == 3
    assert captured.captured_queries[1]["sql"].startswith('UPDATE "presence_sessions" SET "last_seen"')


def test_a_stale_request_refreshes_the_calling_session(alice, user, clock):
    """Activity keeps the caller's own session fresh, like a heartbeat does (but it does not change its state)."""
    clock.advance(60)

    alice.get(ME)

    session = user.presence_sessions.get()
    assert (session.last_seen, session.state, session.ended_at) == (clock.current, "active", None)


def test_the_middleware_never_brings_an_offline_user_online(alice, user, clock, row, set_presence):
    """A user the sweep marked offline who makes a request: last_seen refreshed, still offline."""
    set_presence(user, online_status="offline", last_seen=clock.ago(300))

    response = alice.get(ME)

    assert response.json()["online_status"] == "offline"
    stored = row(user)
    assert (stored.online_status, stored.last_seen) == ("offline", clock.current)


def test_a_request_that_fails_validation_still_counts_as_activity(alice, user, clock, row):
    """Any authenticated request is activity, even one answered 400."""
    clock.advance(30)

    assert alice.get("/api/users/all-users/", {"status": "bogus"}).status_code == 400

    assert row(user).last_seen == clock.current


def test_anonymous_requests_touch_nothing(api, user, clock, users_table, capture_queries):
    """No user, no write, no query."""
    before = users_table()

    with capture_queries() as captured:
        assert api.get(ME).status_code == 401

    assert captured.captured_queries == []
    assert users_table() == before


def test_a_refused_token_touches_nothing(alice, user, clock, row):
    """After logout the revoked token authenticates nobody, so last_seen is not refreshed."""
    alice.post("/api/users/logout/", {}, format="json")
    logged_out_at = row(user).last_seen
    clock.advance(60)

    assert alice.get(ME).status_code == 401
    assert (row(user).online_status, row(user).last_seen) == ("offline", logged_out_at)


def test_the_touch_interval_comes_from_settings(alice, user, clock, row, settings):
    """With PRESENCE_TOUCH_SECONDS = 60 a request 30 s later does not write; with 10 it does."""
    settings.PRESENCE_TOUCH_SECONDS = 60
    logged_in_at = clock.current
    clock.advance(30)
    alice.get(ME)
    assert row(user).last_seen == logged_in_at

    settings.PRESENCE_TOUCH_SECONDS = 10
    alice.get(ME)
    assert row(user).last_seen == clock.current


def test_a_session_authenticated_request_refreshes_last_seen(staff, clock, row, touch_15):
    """Requests authenticated by Django's session (the admin site) count as activity too."""
    client = Client()
    client.force_login(staff)

    assert client.get("/admin/").status_code == 200

    stored = row(staff)
    assert (stored.online_status, stored.last_seen) == ("offline", clock.current)


def test_a_client_that_only_polls_stays_online(alice, user, staff, client_for, clock, row):
    """No heartbeats, only requests every 30 s for four minutes, the sweep running between them: never away, never offline.

    A request under an active session refreshes last_active as well as last_seen, as an active heartbeat would.
    """
    admin = client_for(staff)
    for _ in range(8):
        clock.advance(30)
        assert alice.get(ME).status_code == 200
        check_and_mark_offline_users()
        listed = {entry["id"]: entry for entry in admin.get("/api/users/all-users/").json()}
        assert (listed[user.pk]["online_status"], row(user).online_status) == ("online", "online")
    assert row(user).last_active == clock.current


def test_requests_under_an_idle_session_keep_the_user_away_not_online(alice, user, clock, row):
    """A device that reported idle proves it is there by polling, not that its user is active."""
    assert alice.post("/api/users/heartbeat/", {"state": "idle"}, format="json").status_code == 200
    idle_since = clock.current
    for _ in range(8):
        clock.advance(30)
        assert alice.get(ME).status_code == 200
        check_and_mark_offline_users()

    stored = row(user)
    assert (stored.online_status, stored.last_seen, stored.last_active) == ("away", clock.current, None)
    assert user.presence_sessions.get().last_seen == clock.current > idle_since
