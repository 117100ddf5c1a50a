"""Presence sessions through HTTP: several devices per user, idle and away, logout of one device, logout-all."""

import pytest
from rest_framework.test import APIClient

from users.models import PresenceSession
from users.services.simple_online_status import check_and_mark_offline_users
from users.tests.expectations import assert_json_error, iso

pytestmark = pytest.mark.django_db

LOGIN = "/api/users/login/"
HEARTBEAT = "/api/users/heartbeat/"
LOGOUT = "/api/users/logout/"
LOGOUT_ALL = "/api/users/logout-all/"
REFRESH = "/api/users/token/refresh/"
MY_PRESENCE = "/api/users/me/presence/"
ALL_USERS = "/api/users/all-users/"


@pytest.fixture(autouse=True)
def timeout_120(settings):
    settings.PRESENCE_TIMEOUT_SECONDS = 120
    settings.PRESENCE_SESSION_RETENTION_SECONDS = 3600


@pytest.fixture
def observer(make_user, device):
    """Another ordinary user, logged in, who reads the all-users list."""
    return device(make_user(username="olga"))


def seen_by(observer, username: str) -> dict:
    return next(entry for entry in observer.get(ALL_USERS).json() if entry["username"] == username)


def test_each_login_opens_a_session_labelled_with_its_device(user, device, clock):
    """Two logins, two open sessions; me/presence lists them with their labels and marks the caller's own."""
    laptop = device(user, "laptop")
    clock.advance(5)
    device(user, "phone")

    body = laptop.get(MY_PRESENCE).json()

    assert body["online_status"] == "online" and body["invisible"] is False
    assert [(s["device_id"], s["state"], s["current"]) for s in body["sessions"]] == [
        ("laptop", "active", True),
        ("phone", "active", False),
    ]
    assert body["sessions"][1]["started_at"] == iso(clock.current)
    assert PresenceSession.objects.filter(user=user, ended_at=None).count() == 2


def test_the_session_survives_token_rotation(user, device, api, clock, row):
    """A refreshed access token heartbeats the same session: no second session appears."""
    laptop = device(user, "laptop")
    rotated = api.post(REFRESH, {"refresh": laptop.tokens["refresh"]}, format="json").json()
    again = APIClient()
    again.credentials(HTTP_AUTHORIZATION=f"Bearer {rotated['access']}")
    clock.advance(30)

    assert again.post(HEARTBEAT, format="json").status_code == 200

    session = PresenceSession.objects.get(user=user)
    assert (session.device_id, session.last_seen) == ("laptop", clock.current)


def test_logout_on_one_device_keeps_the_user_online_on_the_other(user, device, observer, clock, row):
    """Two devices, logout on one: 200 online; the other device still works and the user still reads online."""
    laptop, phone = device(user, "laptop"), device(user, "phone")
    clock.advance(10)

    response = laptop.post(LOGOUT, {"refresh": laptop.tokens["refresh"]}, format="json")

    assert response.status_code == 200
    assert response.json() == {"detail": "Logged out.", "online_status": "online"}
    assert seen_by(observer, "alice")["online_status"] == "online"
    assert row(user).online_status == "online"
    assert_json_error(laptop.post(HEARTBEAT, format="json"), 401, "token_revoked")
    assert phone.post(HEARTBEAT, format="json").json()["online_status"] == "online"
    assert [s["device_id"] for s in phone.get(MY_PRESENCE).json()["sessions"]] == ["phone"]


def test_logout_of_the_last_device_takes_the_user_offline(user, device, observer, clock, row):
    laptop, phone = device(user, "laptop"), device(user, "phone")
    laptop.post(LOGOUT, {}, format="json")
    clock.advance(3)

    response = phone.post(LOGOUT, {}, format="json")

    assert response.json()["online_status"] == "offline"
    assert (seen_by(observer, "alice")["online_status"], seen_by(observer, "alice")["last_seen"]) == (
        "offline",
        iso(clock.current),
    )
    assert (row(user).online_status, row(user).last_seen) == ("offline", clock.current)


def test_both_devices_silent_take_the_user_offline_after_the_timeout(user, device, observer, clock, row):
    """No heartbeat from either device: online until the timeout, offline after it, before and after the sweep."""
    device(user, "laptop")
    phone = device(user, "phone")
    clock.advance(60)
    phone.post(HEARTBEAT, format="json")
    clock.advance(119)
    assert seen_by(observer, "alice")["online_status"] == "online"  # the phone's heartbeat is 119 s old

    clock.advance(2)
    assert seen_by(observer, "alice")["online_status"] == "offline"  # read time already applies the timeout
    check_and_mark_offline_users()

    assert row(user).online_status == "offline"
    assert phone.get(MY_PRESENCE).json()["sessions"] == []  # both sessions have expired
    assert seen_by(observer, "alice")["online_status"] == "offline"


def test_a_heartbeat_resumes_an_expired_session(user, device, clock, row):
    """A laptop back from sleep: its session expired and the user was swept, its token still works, its heartbeat brings it back."""
    laptop = device(user, "laptop")
    clock.advance(300)
    check_and_mark_offline_users()

    response = laptop.post(HEARTBEAT, format="json")

    assert response.json()["online_status"] == "online"
    assert [s["device_id"] for s in laptop.get(MY_PRESENCE).json()["sessions"]] == ["laptop"]
    assert PresenceSession.objects.filter(user=user).count() == 1
    assert row(user).online_status == "online"


def test_idle_heartbeats_from_every_device_read_away(user, device, observer, clock):
    """Both devices idle: the user reads away; one active again: online."""
    laptop, phone = device(user, "laptop"), device(user, "phone")
    clock.advance(5)

    assert laptop.post(HEARTBEAT, {"state": "idle"}, format="json").json()["online_status"] == "online"  # phone active
    assert phone.post(HEARTBEAT, {"state": "idle"}, format="json").json()["online_status"] == "away"
    assert seen_by(observer, "alice")["online_status"] == "away"
    assert observer.get(ALL_USERS, {"status": "away"}).json()[0]["username"] == "alice"

    assert phone.post(HEARTBEAT, {"state": "active"}, format="json").json()["online_status"] == "online"
    assert seen_by(observer, "alice")["online_status"] == "online"


def test_an_active_device_going_silent_leaves_the_user_away_while_an_idle_one_heartbeats(
    user, device, observer, clock, row
):
    """The active laptop stops, the idle phone keeps beating: away after the timeout, with no sweep; the sweep agrees."""
    device(user, "laptop")
    phone = device(user, "phone")
    for _ in range(5):
        clock.advance(30)
        phone.post(HEARTBEAT, {"state": "idle"}, format="json")

    assert seen_by(observer, "alice")["online_status"] == "away"
    check_and_mark_offline_users()
    assert row(user).online_status == "away"
    assert [(s["device_id"], s["state"]) for s in phone.get(MY_PRESENCE).json()["sessions"]] == [("phone", "idle")]


@pytest.mark.parametrize("body", [{"state": "sleeping"}, {"state": ""}, {"state": None}, {"state": ["idle"]}])
def test_a_bad_heartbeat_state_is_a_json_400_and_changes_nothing(user, device, clock, users_table, body):
    laptop = device(user, "laptop")
    clock.advance(5)  # inside the touch interval, so the request itself writes nothing either
    before = users_table()
    sessions = list(PresenceSession.objects.values_list("sid", "state", "last_seen"))

    response = laptop.post(HEARTBEAT, body, format="json")

    assert "state" in assert_json_error(response, 400, "invalid")["errors"]
    assert users_table() == before
    assert list(PresenceSession.objects.values_list("sid", "state", "last_seen")) == sessions


def test_logout_all_ends_every_session_and_revokes_every_token(user, device, observer, api, clock, row):
    """Three devices; logout-all from one: offline at once, every access and refresh token refused."""
    laptop, phone, tablet = device(user, "laptop"), device(user, "phone"), device(user, "tablet")
    clock.advance(5)

    response = phone.post(LOGOUT_ALL, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {"detail": "Logged out everywhere.", "online_status": "offline", "sessions_ended": 3}
    assert (row(user).online_status, row(user).last_seen) == ("offline", clock.current)
    assert seen_by(observer, "alice")["online_status"] == "offline"
    for client in (laptop, phone, tablet):
        assert_json_error(client.post(HEARTBEAT, format="json"), 401, "token_revoked")
        assert_json_error(api.post(REFRESH, {"refresh": client.tokens["refresh"]}, format="json"), 401)
    assert set(PresenceSession.objects.filter(user=user).values_list("end_reason", flat=True)) == {"logout_all"}
    assert seen_by(observer, "olga")["online_status"] == "online"  # nobody else is touched


def test_logout_all_also_revokes_an_expired_session(user, device, clock):
    """An expired session's token would resume it with a heartbeat; after logout-all it cannot."""
    sleeping = device(user, "laptop")
    clock.advance(300)
    check_and_mark_offline_users()
    phone = device(user, "phone")

    phone.post(LOGOUT_ALL, format="json")

    assert_json_error(sleeping.post(HEARTBEAT, format="json"), 401, "token_revoked")
    assert not PresenceSession.objects.filter(ended_at=None).exclude(user__username="olga").exists()


def test_logout_all_requires_authentication(api, user, device, users_table):
    device(user)
    before = users_table()

    assert_json_error(api.post(LOGOUT_ALL, format="json"), 401, "not_authenticated")
    assert users_table() == before


def test_the_sweep_deletes_sessions_ended_or_silent_for_longer_than_the_retention_period(user, device, clock, settings):
    """Sessions logged out, or silent, for PRESENCE_SESSION_RETENTION_SECONDS (3600 here) are deleted by the sweep."""
    laptop, phone = device(user, "laptop"), device(user, "phone")
    device(user, "tablet")
    laptop.post(LOGOUT, {}, format="json")
    clock.advance(3599)
    phone.post(HEARTBEAT, format="json")
    check_and_mark_offline_users()
    assert set(PresenceSession.objects.filter(user=user).values_list("device_id", flat=True)) == {
        "laptop",
        "phone",
        "tablet",
    }

    clock.advance(2)
    check_and_mark_offline_users()

    assert list(PresenceSession.objects.filter(user=user).values_list("device_id", flat=True)) == ["phone"]
    assert_json_error(laptop.post(HEARTBEAT, format="json"), 401, "token_revoked")  # still refused


@pytest.mark.parametrize("value", [0, 1, "yes", "true", None])
def test_invisible_takes_json_booleans_only(client_for, user, value):
    from users.models import User
    from users.tests.expectations import assert_json_error

    response = client_for(user).patch("/api/users/me/presence/", {"invisible": value}, format="json")
    assert_json_error(response, 400)
    assert User.objects.get(pk=user.pk).invisible_since is None
