"""The five checks of the operating guide, through a live API server and a real worker with beat.

The server and the worker are the Procfile's commands with the development settings (eager
off) on the test database; presence intervals are shortened to seconds (see conftest).
"""

from datetime import datetime, timedelta

import pytest

from conftest import PASSWORD
from tests.live.conftest import TIMEOUT_SECONDS, presence_row, wait_until
from users.presence import clock as presence_clock

pytestmark = pytest.mark.live
TIMEOUT = timedelta(seconds=TIMEOUT_SECONDS)
SLACK = timedelta(seconds=2)  # a live round trip plus clock reads on both sides


@pytest.fixture
def log_in(live_api):
    """POST /api/users/login/ on the live server; returns the body (tokens, user, presence)."""

    def do_log_in(user):
        status, _, body = live_api.call("POST", "/api/users/login/", {"username": user.username, "password": PASSWORD})
        assert status == 200, body
        return body

    return do_log_in


def listed(live_api, token, username):
    """The all-users entry for `username`, as the admin panel's poll gets it."""
    status, headers, users = live_api.call("GET", "/api/users/all-users/", token=token)
    assert status == 200, users
    assert "no-store" in headers["Cache-Control"]
    return next(entry for entry in users if entry["username"] == username)


def test_1_login_marks_the_user_online_in_the_users_table(make_user, log_in):
    admin = make_user(username="admin", is_staff=True, is_superuser=True)
    assert presence_row("admin")[1:] == ("offline", None)

    before = presence_clock.now()
    body = log_in(admin)

    username, status, last_seen = presence_row("admin")
    assert (username, status) == ("admin", "online")
    assert before - SLACK <= last_seen <= presence_clock.now() + SLACK
    assert body["user"]["online_status"] == "online"
    assert body["presence"]["timeout_seconds"] == TIMEOUT_SECONDS


def test_2_and_4_heartbeats_keep_a_user_online_past_the_timeout_and_a_silent_one_goes_offline_by_beat(
    make_user, live_api, log_in, celery_worker_beat
):
    alice, bob = make_user(username="alice"), make_user(username="bob")
    alice_token = log_in(alice)["access"]
    log_in(bob)  # then bob closes the browser: no heartbeat, no logout
    bob_since = presence_row("bob")[2]

    seen = []

    def bob_is_offline():
        celery_worker_beat.assert_running()
        status, _, body = live_api.call("POST", "/api/users/heartbeat/", token=alice_token)
        assert status == 200 and body["online_status"] == "online", body
        _, alice_status, alice_last_seen = presence_row("alice")
        assert alice_status == "online", "a heartbeating user was marked offline"
        seen.append(alice_last_seen)
        return presence_row("bob")[1] == "offline"

    wait_until(
        bob_is_offline, interval=0.5, describe=lambda: live_api.process.describe() + celery_worker_beat.describe()
    )

    # Bob went offline in the database only once the timeout had passed, by the beat's sweep.
    assert presence_clock.now() - bob_since >= TIMEOUT
    assert "presence sweep marked_offline=1" in celery_worker_beat.log()
    # Alice stayed online past the timeout, each heartbeat moving last_seen forward.
    assert seen[-1] - seen[0] >= TIMEOUT - SLACK
    assert all(later > earlier for earlier, later in zip(seen, seen[1:]))
    assert presence_clock.now() - seen[-1] < TIMEOUT
    # The list the admin panel polls agrees with the database.
    assert listed(live_api, alice_token, "alice")["online_status"] == "online"
    assert listed(live_api, alice_token, "bob")["online_status"] == "offline"


def test_3_the_all_users_list_shows_fresh_status_on_every_poll(make_user, live_api, log_in):
    admin = make_user(username="admin", is_staff=True)
    alice = make_user(username="alice")
    admin_token = log_in(admin)["access"]
    assert listed(live_api, admin_token, "alice")["online_status"] == "offline"

    alice_tokens = log_in(alice)
    entry = listed(live_api, admin_token, "alice")
    assert entry["online_status"] == "online"
    assert datetime.fromisoformat(entry["last_seen"]) == presence_row("alice")[2]
    assert {"email", "is_staff", "is_active"} <= entry.keys()  # the caller is staff

    status, _, _ = live_api.call(
        "POST", "/api/users/logout/", {"refresh": alice_tokens["refresh"]}, token=alice_tokens["access"]
    )
    assert status == 200
    assert listed(live_api, admin_token, "alice")["online_status"] == "offline"  # the very next poll


def test_3_the_all_users_list_reads_a_silent_user_offline_even_with_no_beat_running(make_user, live_api, log_in):
    admin = make_user(username="admin", is_staff=True)
    bob = make_user(username="bob")
    log_in(bob)
    admin_token = log_in(admin)["access"]
    assert listed(live_api, admin_token, "bob")["online_status"] == "online"

    # No worker here: nothing sweeps, yet once the timeout passes the list reads bob offline.
    wait_until(
        lambda: listed(live_api, admin_token, "bob")["online_status"] == "offline",
        timeout=TIMEOUT_SECONDS + 5,
        describe=live_api.process.describe,
    )
    assert presence_row("bob")[1] == "online"  # the stored status waits for the sweep


def test_5_logout_marks_offline_at_once_and_the_old_access_token_gets_401(make_user, live_api, log_in):
    alice = make_user(username="alice")
    tokens = log_in(alice)
    assert live_api.call("POST", "/api/users/heartbeat/", token=tokens["access"])[0] == 200

    before = presence_clock.now()
    status, _, body = live_api.call(
        "POST", "/api/users/logout/", {"refresh": tokens["refresh"]}, token=tokens["access"]
    )
    assert status == 200, body

    _, online_status, last_seen = presence_row("alice")
    assert online_status == "offline"
    assert last_seen >= before - SLACK
    # A late heartbeat from the closed session is refused and does not bring alice back.
    status, _, body = live_api.call("POST", "/api/users/heartbeat/", token=tokens["access"])
    assert status == 401, body
    assert presence_row("alice")[1:] == ("offline", last_seen)
    assert live_api.call("GET", "/api/users/me/", token=tokens["access"])[0] == 401
    assert live_api.call("POST", "/api/users/token/refresh/", {"refresh": tokens["refresh"]})[0] == 401
