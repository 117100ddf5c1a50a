"""Several devices of one user heartbeating at once (PostgreSQL): no heartbeat is lost and the derived status is right."""

import random
import threading

import pytest
from rest_framework.test import APIClient

from conftest import PASSWORD
from users.models import PresenceSession, User

pytestmark = pytest.mark.postgres

DEVICES = 6
ROUNDS = 25
BOUND_SECONDS = 60


def log_in(user, device_id: str) -> APIClient:
    response = APIClient().post(
        "/api/users/login/", {"username": user.username, "password": PASSWORD, "device_id": device_id}, format="json"
    )
    assert response.status_code == 200, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    return client


@pytest.mark.parametrize("last_active_device", [0, None])
def test_concurrent_heartbeats_from_several_devices_lose_nothing(on_postgres, user, run_together, last_active_device):
    """Each device alternates active and idle heartbeats; at the end the user row equals what its sessions say.

    With one device ending active, the user is online and last_active is that device's last heartbeat;
    with every device ending idle, the user is away. last_seen is the newest heartbeat of all.
    """
    clients = [log_in(user, f"d{n}") for n in range(DEVICES)]
    lock = threading.Lock()
    refused: list[int] = []

    def beat(n):
        def run():
            rng = random.Random(n)
            states = [rng.choice(["active", "idle"]) for _ in range(ROUNDS - 1)]
            states.append("active" if n == last_active_device else "idle")
            for state in states:
                status = clients[n].post("/api/users/heartbeat/", {"state": state}, format="json").status_code
                if status != 200:
                    with lock:
                        refused.append(status)

        return run

    errors = run_together([beat(n) for n in range(DEVICES)], bound_seconds=BOUND_SECONDS)
    assert not errors, "\n".join(errors)
    assert not refused

    sessions = PresenceSession.objects.filter(user=user)
    assert sessions.count() == DEVICES and not sessions.exclude(ended_at=None).exists()
    stored = User.objects.get(pk=user.pk)
    newest = max(s.last_seen for s in sessions)
    assert stored.last_seen == newest, "a heartbeat's last_seen was overwritten by an older one"
    if last_active_device is None:
        assert set(sessions.values_list("state", flat=True)) == {"idle"}
        assert stored.online_status == "away", "every device is idle but the user is not away"
    else:
        active = sessions.get(device_id=f"d{last_active_device}")
        assert active.state == "active"
        assert stored.online_status == "online", "an active device's heartbeat was lost"
        assert stored.last_active == active.last_seen


def test_two_devices_swapping_active_and_idle_never_leave_the_user_away(on_postgres, user, login, run_together):
    """Round after round, one device goes active while the other goes idle, both at once: the user stays online.

    This is the race the user-row lock closes: the idle device recomputes from the sessions, and
    without the lock it could do so from a view taken before the other device's active heartbeat
    committed, writing `away` over it.
    """
    from rest_framework_simplejwt.tokens import AccessToken

    from users.auth.revocation import session_id
    from users.presence.session_writes import refresh_presence_session

    sids = [session_id(AccessToken(login(user)["access"])) for _ in range(2)]
    rounds = 150
    barrier = threading.Barrier(2)
    wrong: list[tuple[int, str]] = []

    def device(n):
        def run():
            for r in range(rounds):
                barrier.wait(timeout=BOUND_SECONDS)
                assert refresh_presence_session(user.pk, sids[n], state="active" if (r + n) % 2 else "idle")
                barrier.wait(timeout=BOUND_SECONDS)
                if n == 0:
                    status = User.objects.get(pk=user.pk).online_status
                    if status != "online":
                        wrong.append((r, status))

        return run

    errors = run_together([device(0), device(1)], bound_seconds=BOUND_SECONDS)
    assert not errors, "\n".join(errors)
    assert not wrong, f"{len(wrong)} of {rounds} rounds left the user {wrong[0][1]} with one device active"


def test_a_device_going_idle_recomputes_from_sessions_as_they_are_once_it_holds_the_user_row(
    on_postgres, user, behind_a_held_write
):
    """Device B's active heartbeat holds the user row; device A goes idle meanwhile and queues behind it.

    A's recompute runs after B commits and must read B's session as active: read as of A's own start (one
    statement, one snapshot) it would find both sessions idle and write `away` over B's heartbeat.
    """
    from users.presence.session_writes import refresh_presence_session, start_presence_session

    start_presence_session(user.pk, "device-a")
    start_presence_session(user.pk, "device-b")
    assert refresh_presence_session(user.pk, "device-b", state="idle")

    answer = behind_a_held_write(
        lambda: refresh_presence_session(user.pk, "device-b", state="active"),
        lambda: refresh_presence_session(user.pk, "device-a", state="idle"),
    )

    assert answer[1] == "online"
    stored = User.objects.get(pk=user.pk)
    assert stored.online_status == "online"
    assert stored.last_active == PresenceSession.objects.get(sid="device-b").last_seen
