"""A logout racing heartbeats of the same session: the user ends offline and the token is refused."""

import threading
import time

import pytest
from rest_framework.test import APIClient

from users.models import PresenceSession, User
from users.presence.session_writes import end_presence_session, refresh_presence_session, start_presence_session

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


@pytest.mark.parametrize("state", ["active", "idle"])
def test_a_heartbeat_waits_for_a_logout_holding_the_session_and_then_writes_nothing(
    on_postgres, make_user, behind_a_held_write, state
):
    """The heartbeat's session write (one statement with the user row's, or the lock before the recompute) re-checks
    `ended_at IS NULL` under the session's lock: a logout that commits first always wins, even for a user coming back."""
    user = make_user()
    sid = "racing-session"
    start_presence_session(user.pk, sid)
    User.objects.filter(pk=user.pk).update(online_status="offline")  # swept meanwhile: the next beat brings them back

    written = behind_a_held_write(
        lambda: end_presence_session(user.pk, sid, reason="logout"),
        lambda: refresh_presence_session(user.pk, sid, state=state),
    )

    assert written is None
    assert User.objects.get(pk=user.pk).online_status == "offline"
    assert PresenceSession.objects.get(sid=sid).ended_at is not None
