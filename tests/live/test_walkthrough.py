"""The README's walkthrough, as written: with the demo player running, alice logs in and keeps her page open
for 40 s, and the admin's list shows her online the whole time."""

import io
import time

import pytest
from django.core.management import call_command

from tests.live.conftest import procfile_command

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
WALK_SECONDS = 40
PASSWORD = "Walkthrough-pass-42"


def test_alice_reads_online_throughout_while_the_demo_player_plays(
    live_api, celery_worker_beat, start_process, monkeypatch
):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", PASSWORD)
    monkeypatch.setenv("DEMO_USER_PASSWORD", PASSWORD)
    call_command("seed_demo", stdout=io.StringIO())
    player = start_process("demo", procfile_command("demo") + ["--every", "0.5"])

    status, _, alice = live_api.call("POST", "/api/users/login/", {"username": "alice", "password": PASSWORD})
    assert status == 200, alice
    status, _, admin = live_api.call("POST", "/api/users/login/", {"username": "admin", "password": PASSWORD})
    assert status == 200, admin

    seen, played = [], set()
    deadline = time.monotonic() + WALK_SECONDS
    while time.monotonic() < deadline:
        # Her open page heartbeats (the live suite's timeout is 3 s, so every second).
        assert live_api.call("POST", "/api/users/heartbeat/", {}, token=alice["access"])[0] == 200
        status, _, users = live_api.call("GET", "/api/users/all-users/", token=admin["access"])
        assert status == 200
        by_name = {user["username"]: user["online_status"] for user in users}
        seen.append(by_name["alice"])
        played |= {name for name, state in by_name.items() if name.startswith("demo-") and state != "offline"}
        player.assert_running()
        time.sleep(1)

    assert set(seen) == {"online"}, seen
    assert played, "the demo player brought its own accounts online meanwhile"
