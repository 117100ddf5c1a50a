"""Property: a client that loads the full list once and then applies the feed holds exactly what a full fetch shows.

Hypothesis draws random interleavings of logins (several devices per user), active and idle
heartbeats, logouts, logout-all, invisible toggles, sweeps, time advancing past timeouts, account
changes by staff (new users, renames, email and staff-flag edits, deactivation and reactivation),
and feed reads by an ordinary and a staff viewer, all through HTTP. After every feed read, the
viewer's map (every field of every entry but last_seen) must equal a full fetch made right then.
"""

import itertools

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from conftest import PASSWORD
from users.models import User
from users.services.simple_online_status import check_and_mark_offline_users

pytestmark = pytest.mark.django_db(transaction=True)

FEED = "/api/users/presence/"
ADMIN_USERS = "/api/users/admin/users/"
USERS = 3  # exist from the start
CREATED = 2  # more that staff may create during a run
DEVICES = 2
_run = itertools.count()

user_ix = st.integers(0, USERS + CREATED - 1)
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
    st.tuples(st.just("create")),
    st.tuples(st.just("rename"), user_ix, st.sampled_from(["first_name", "last_name", "username"])),
    st.tuples(st.just("email"), user_ix),
    st.tuples(st.just("staff_flag"), user_ix, st.booleans()),
    st.tuples(st.just("deactivate"), user_ix),
    st.tuples(st.just("activate"), user_ix),
)
# Most steps are followed by a read of one viewer: a missed change shows only if a read comes between.
steps_with_reads = st.lists(st.tuples(operations, st.sampled_from([None, "plain", "staff"])), min_size=4, max_size=30)


class Viewer:
    """A client holding a presence map built from one full load and then the feed."""

    def __init__(self, client: APIClient, staff: bool):
        self.client, self.staff = client, staff
        body = self.client.get(FEED).json()
        self.cursor, self.state = body["cursor"], {}
        self.apply(body["users"])

    @staticmethod
    def key(entry):
        # last_seen is reported as of each read, not as a change (docs/PRESENCE.md); every other field is.
        return tuple(sorted((name, value) for name, value in entry.items() if name != "last_seen"))

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


def log_in(username: str, device_id: str = "") -> APIClient | None:
    """A client logged in as `username`; None if the account is deactivated."""
    response = APIClient().post(
        "/api/users/login/", {"username": username, "password": PASSWORD, "device_id": device_id}, format="json"
    )
    if response.status_code == 401:
        return None
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
    renames = itertools.count()
    names = [f"p{run}u{i}" for i in range(USERS)]
    ids = [django_user_model.objects.create_user(username=n, password=PASSWORD).pk for n in names]
    plain_user = django_user_model.objects.create_user(username=f"p{run}plain", password=PASSWORD)
    staff_user = django_user_model.objects.create_user(username=f"p{run}staff", password=PASSWORD, is_staff=True)
    devices: dict[tuple[int, int], APIClient] = {}
    viewers = {"plain": Viewer(log_in(plain_user.username), False), "staff": Viewer(log_in(staff_user.username), True)}
    staff = viewers["staff"].client  # makes the account changes, as the dashboard's staff user would

    def edit(u, **fields):
        response = staff.patch(f"{ADMIN_USERS}{ids[u]}/", fields, format="json")
        assert response.status_code == 200, response.content

    def any_device(u):
        return next((client for (owner, _), client in devices.items() if owner == u), None)

    try:
        for step, then_read in steps:
            kind = step[0]
            if kind == "create":
                if len(ids) < USERS + CREATED:
                    names.append(f"p{run}u{len(ids)}")
                    response = staff.post(ADMIN_USERS, {"username": names[-1], "password": PASSWORD}, format="json")
                    assert response.status_code == 201, response.content
                    ids.append(response.json()["id"])
            elif kind not in ("sweep", "advance", "read") and step[1] >= len(ids):
                pass  # an account not created (yet) in this run
            elif kind == "login":
                client = log_in(names[step[1]], f"d{step[2]}")
                if client:
                    devices[step[1:]] = client
            elif kind == "heartbeat" and step[1:3] in devices:
                assert devices[step[1:3]].post(
                    "/api/users/heartbeat/", {"state": step[3]}, format="json"
                ).status_code in (200, 401)
            elif kind == "logout" and step[1:] in devices:
                client = devices.pop(step[1:])
                assert client.post(
                    "/api/users/logout/", {"refresh": client.refresh_token}, format="json"
                ).status_code in (200, 401)
            elif kind == "logout_all" and any_device(step[1]):
                assert any_device(step[1]).post("/api/users/logout-all/", format="json").status_code in (200, 401)
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
            elif kind == "rename":
                value = f"p{run}u{step[1]}n{next(renames)}"
                edit(step[1], **{step[2]: value})
                if step[2] == "username":
                    names[step[1]] = value
            elif kind == "email":
                edit(step[1], email=f"{names[step[1]]}.{next(renames)}@example.com")
            elif kind == "staff_flag":
                edit(step[1], is_staff=step[2])
            elif kind in ("deactivate", "activate"):
                assert staff.post(f"{ADMIN_USERS}{ids[step[1]]}/{kind}/", format="json").status_code == 200
            if then_read:
                viewers[then_read].check(steps)
        for viewer in viewers.values():
            viewer.check(steps)
    finally:
        User.objects.filter(username__startswith=f"p{run}").delete()
