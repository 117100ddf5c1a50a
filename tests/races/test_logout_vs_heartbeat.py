"""A logout racing heartbeats of the same session: the user ends offline and the token is refused."""

import threading
import time

from django.db import connection, transaction
from rest_framework.test import APIClient

from users.models import User
from users.presence import clock as presence_clock
from users.presence.session_writes import end_presence_session, start_presence_session
from users.presence.user_writes import write_online_if_session_open

HEARTBEAT_THREADS = 8
ROUNDS = 5
BOUND_SECONDS = 30


def test_a_logout_racing_heartbeats_leaves_the_user_offline_and_refuses_the_token(
    transactional_db, user, login, run_together
):
    for _ in range(ROUNDS):
        tokens = login(user)
        logged_out = threading.Event()
        answers: list[tuple[bool, int]] = []  # (sent after the logout returned, status)
        lock = threading.Lock()

        def heartbeat():
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
            late = 0
            deadline = time.monotonic() + BOUND_SECONDS / ROUNDS
            while late < 5 and time.monotonic() < deadline:
                after_logout = logged_out.is_set()
                status = client.post("/api/users/heartbeat/", format="json").status_code
                with lock:
                    answers.append((after_logout, status))
                late += after_logout

        def logout():
            # Let the heartbeats get going, then log out in the middle of them.
            deadline = time.monotonic() + BOUND_SECONDS / ROUNDS
            while sum(status == 200 for _, status in answers) < 2 * HEARTBEAT_THREADS:
                assert time.monotonic() < deadline, "no heartbeat got through"
                time.sleep(0.001)
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
            response = client.post("/api/users/logout/", {"refresh": tokens["refresh"]}, format="json")
            assert response.status_code == 200, response.content
            logged_out.set()

        errors = run_together([heartbeat] * HEARTBEAT_THREADS + [logout], bound_seconds=BOUND_SECONDS)
        assert not errors, "\n".join(errors)

        assert {status for after_logout, status in answers if after_logout} == {401}
        assert {status for after_logout, status in answers if not after_logout} <= {200, 401}
        assert User.objects.get(pk=user.pk).online_status == "offline", (
            "a heartbeat racing the logout left the user online"
        )
        late = APIClient()
        late.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        assert late.post("/api/users/heartbeat/", format="json").status_code == 401
        assert User.objects.get(pk=user.pk).online_status == "offline"


def test_a_user_coming_back_waits_for_a_logout_holding_the_session_and_then_writes_nothing(
    on_postgres, make_user, run_together
):
    """The heartbeat's second statement (the user row, after its session was refreshed) re-checks the session under its lock."""
    user = make_user()
    sid = "racing-session"
    start_presence_session(user.pk, sid)
    User.objects.filter(pk=user.pk).update(online_status="offline")  # swept meanwhile: the next beat brings them back
    holding, waiting_seen = threading.Event(), threading.Event()
    written: list[bool] = []

    def logout():
        with transaction.atomic():
            end_presence_session(user.pk, sid, reason="logout")
            holding.set()
            assert waiting_seen.wait(BOUND_SECONDS), "the heartbeat never queued behind the logout"

    def heartbeat():
        assert holding.wait(BOUND_SECONDS)
        with transaction.atomic(savepoint=False):
            written.append(write_online_if_session_open(user.pk, sid, presence_clock.now()))

    def watch():
        assert holding.wait(BOUND_SECONDS)
        deadline = time.monotonic() + BOUND_SECONDS
        while not _a_backend_waits_on_a_lock():
            assert time.monotonic() < deadline, "no backend waited on a lock"
            time.sleep(0.01)
        waiting_seen.set()

    errors = run_together([logout, heartbeat, watch], bound_seconds=BOUND_SECONDS)
    assert not errors, "\n".join(errors)
    assert written == [False]
    assert User.objects.get(pk=user.pk).online_status == "offline"


def _a_backend_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0
