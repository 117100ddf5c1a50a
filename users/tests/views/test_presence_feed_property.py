"""Property: a client that loads the full list once and then applies the feed holds exactly what a full fetch shows.

Hypothesis draws random interleavings of logins (several devices per user), active and idle
heartbeats, logouts, logout-all, invisible toggles, sweeps, time advancing past timeouts, and feed
reads by an ordinary and a staff viewer, all through HTTP. After every feed read, the viewer's
map (status, and `invisible` for staff) must equal a full fetch made right then.
"""
import itertools

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from rest_framework.test import APIClient

from conftest import PASSWORD
from users.models import User
from users.services.simple_online_status import check_and_mark_offline_users

pytestmark = pytest.mark.django_db(transaction=True)

FEED = "/api/users/presence/"
USERS = 3
DEVICES = 2
_run = itertools.count()

user_ix = st.integers(0, USERS - 1)
device_ix = st.integers(0, DEVICES - 1)
operations = st.one_of(
    st.tuples(st.just("login"), user_ix, device_ix),
    st.tuples(st.just("heartbeat"), user_ix, device_ix, st.sampled_from(["active", "idle"])),
    st.tuples(st.just("logout"), user_ix, device_ix),
    st.tuples(st.just("logout_all"), user_ix),
    st.tuples(st.just("invisible"), user_ix, st.booleans()),
    st.tuples(st.just("sweep")),
    st.tuples(st.just("advance"), st.sampled_from([1, 9, 10, 11, 29, 60, 110, 119, 120, 121, 130, 300])),
    st.tuples(st.just("read"), st.sampled_from(["plain", "staff"])),
)
# Most steps are followed by a read of one viewer: a missed change shows only if a read comes between.
steps_with_reads = st.lists(
    st.tuples(operations, st.sampled_from([None, "plain", "staff"])), min_size=4, max_size=30
)


class Viewer:
    """A client holding a presence map built from one full load and then the feed."""

    def __init__(self, client: APIClient, staff: bool):
        self.client, self.staff = client, staff
        body = self.client.get(FEED).json()
        self.cursor, self.state = body["cursor"], {}
        self.apply(body["users"])

    def key(self, entry):
        return (entry["online_status"], entry["invisible"]) if self.staff else entry["online_status"]

    def apply(self, entries):
        for entry in entries:
            self.state[entry["id"]] = self.key(entry)

    def poll(self):
        response = self.client.get(FEED, {"since": self.cursor})
        assert response.status_code == 200, response.content
        self.cursor = response.json()["cursor"]
        self.apply(response.json()["users"])

    def full(self) -> dict:
        return {entry["id"]: self.key(entry) for entry in self.client.get(FEED).json()["users"]}

    def check(self, steps):
        """Poll, fetch everything, poll again: the map must equal the full fetch.

        The viewer's own requests are activity (PresenceTouchMiddleware), written after each
        answer; the first poll's write is a change the second poll must deliver.
        """
        self.poll()
        full = self.full()
        self.poll()
        assert self.state == full, (steps, self.staff)


def log_in(username: str, device_id: str = "") -> APIClient:
    response = APIClient().post(
        "/api/users/login/", {"username": username, "password": PASSWORD, "device_id": device_id}, format="json"
    )
    assert response.status_code == 200, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    client.refresh_token = response.json()["refresh"]
    return client


@pytest.fixture
def timeout_120(settings):
    settings.PRESENCE_TIMEOUT_SECONDS = 120
    settings.PRESENCE_TOUCH_SECONDS = 15


@hypothesis_settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(steps=steps_with_reads)
def test_applying_the_feed_always_matches_a_full_fetch(steps, clock, timeout_120, django_user_model):
    run = next(_run)
    names = [f"p{run}u{i}" for i in range(USERS)]
    people = [django_user_model.objects.create_user(username=n, password=PASSWORD) for n in names]
    plain_user = django_user_model.objects.create_user(username=f"p{run}plain", password=PASSWORD)
    staff_user = django_user_model.objects.create_user(username=f"p{run}staff", password=PASSWORD, is_staff=True)
    devices: dict[tuple[int, int], APIClient] = {}
    viewers = {"plain": Viewer(log_in(plain_user.username), False), "staff": Viewer(log_in(staff_user.username), True)}

    def any_device(u):
        return next((client for (owner, _), client in devices.items() if owner == u), None)

    try:
        for step, then_read in steps:
            kind = step[0]
            if kind == "login":
                devices[step[1:]] = log_in(names[step[1]], f"d{step[2]}")
            elif kind == "heartbeat" and step[1:3] in devices:
                assert devices[step[1:3]].post("/api/users/heartbeat/", {"state": step[3]}, format="json").status_code in (200, 401)
            elif kind == "logout" and step[1:] in devices:
                client = devices.pop(step[1:])
                assert client.post("/api/users/logout/", {"refresh": client.refresh_token}, format="json").status_code in (200, 401)
            elif kind == "logout_all" and any_device(step[1]):
                assert any_device(step[1]).post("/api/users/logout-all/", format="json").status_code == 200
                for key in [key for key in devices if key[0] == step[1]]:
                    del devices[key]
            elif kind == "invisible" and any_device(step[1]):
                response = any_device(step[1]).patch("/api/users/me/presence/", {"invisible": step[2]}, format="json")
                assert response.status_code in (200, 401)
            elif kind == "sweep":
                check_and_mark_offline_users()
            elif kind == "advance":
                clock.advance(step[1])
            elif kind == "read":
                viewers[step[1]].check(steps)
            if then_read:
                viewers[then_read].check(steps)
        for viewer in viewers.values():
            viewer.check(steps)
    finally:
        User.objects.filter(username__startswith=f"p{run}").delete()
