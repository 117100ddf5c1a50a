"""Deactivating a user while their devices heartbeat (PostgreSQL): no deadlock, and the user ends offline with every session ended."""

import threading
import uuid

import pytest

from users.models import PresenceSession, User
from users.presence.session_writes import refresh_presence_session, start_presence_session
from users.services.accounts import activate_user, deactivate_user

pytestmark = pytest.mark.postgres

DEVICES = 3
ROUNDS = 40
BOUND_SECONDS = 90


def test_deactivation_racing_heartbeats_never_deadlocks_and_always_wins(on_postgres, user, run_together):
    """Each round: devices log in, then heartbeat while staff deactivate the user, all at once.

    Both take the session rows before the user row; with the user row first, deactivation and a
    heartbeat each held the lock the other wanted, and PostgreSQL aborted one of them.
    """
    barrier = threading.Barrier(DEVICES + 1)
    sids = [[f"race-{uuid.uuid4().hex}" for _ in range(DEVICES)] for _ in range(ROUNDS)]
    outcomes: list[tuple[int, str, int]] = []

    def device(n):
        def run():
            for r in range(ROUNDS):
                barrier.wait(timeout=BOUND_SECONDS)  # the round's sessions are open
                barrier.wait(timeout=BOUND_SECONDS)  # go
                for _ in range(3):
                    refresh_presence_session(user.pk, sids[r][n])
                barrier.wait(timeout=BOUND_SECONDS)  # the round is over

        return run

    def staff():
        for r in range(ROUNDS):
            activate_user(user.pk)
            for sid in sids[r]:
                assert start_presence_session(user.pk, sid)
            barrier.wait(timeout=BOUND_SECONDS)
            barrier.wait(timeout=BOUND_SECONDS)
            deactivate_user(user.pk)
            barrier.wait(timeout=BOUND_SECONDS)
            stored = User.objects.get(pk=user.pk)
            still_open = PresenceSession.objects.filter(user_id=user.pk, ended_at__isnull=True).count()
            outcomes.append((r, stored.online_status, still_open))

    errors = run_together([staff, *(device(n) for n in range(DEVICES))], bound_seconds=BOUND_SECONDS)
    assert not errors, "\n".join(errors)
    assert outcomes == [(r, "offline", 0) for r in range(ROUNDS)]
