"""A logout racing heartbeats of the same session: the user ends offline and the token is refused."""
import threading
import time

from rest_framework.test import APIClient

from users.models import User

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
        assert User.objects.get(pk=user.pk).online_status == "offline", "a heartbeat racing the logout left the user online"
        late = APIClient()
        late.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        assert late.post("/api/users/heartbeat/", format="json").status_code == 401
        assert User.objects.get(pk=user.pk).online_status == "offline"
