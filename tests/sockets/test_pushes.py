"""Every kind of presence change is pushed to the sockets that may see it, and revocations close sockets."""

import time

import pytest

from tests.sockets.conftest import GRACE_SECONDS, log_in
from users.models import User

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def watchers(server, sockets, staff, make_user):
    """A staff socket and a regular user's socket, both authenticated on `server`."""
    regular = make_user(username="viewer")
    staff_socket, regular_socket = sockets(server), sockets(server)
    staff_socket.auth(log_in(server, staff)["access"])
    regular_socket.auth(log_in(server, regular)["access"])
    return staff_socket, regular_socket


def both(watchers, predicate):
    for socket in watchers:
        socket.until(predicate)


def test_login_and_logout_are_pushed(server, watchers, user):
    tokens = log_in(server, user)
    both(watchers, lambda s: s.status(user.id) == "online")
    server.call("POST", "/api/users/logout/", {"refresh": tokens["refresh"]}, token=tokens["access"])
    both(watchers, lambda s: s.status(user.id) == "offline")


def test_idle_is_pushed_as_away(server, watchers, user):
    tokens = log_in(server, user)
    server.call("POST", "/api/users/heartbeat/", {"state": "idle"}, token=tokens["access"])
    both(watchers, lambda s: s.status(user.id) == "away")


def test_invisible_reads_offline_to_others_and_marked_to_staff(server, watchers, user):
    tokens = log_in(server, user)
    both(watchers, lambda s: s.status(user.id) == "online")
    server.call("PATCH", "/api/users/me/presence/", {"invisible": True}, token=tokens["access"])
    staff_socket, regular_socket = watchers
    regular_socket.until(lambda s: s.status(user.id) == "offline")
    staff_socket.until(lambda s: s.view[user.id].get("invisible") is True)
    assert staff_socket.status(user.id) == "online"


def test_a_silent_http_client_times_out_and_is_pushed_offline(server, watchers, user):
    log_in(server, user)  # then no heartbeat: the live suite's timeout is 3 s, and no worker sweeps here
    both(watchers, lambda s: s.status(user.id) == "online")
    both(watchers, lambda s: s.status(user.id) == "offline")


def test_an_account_change_is_pushed(server, watchers, staff, user):
    admin = log_in(server, staff)["access"]
    assert server.call("PATCH", f"/api/users/admin/users/{user.id}/", {"first_name": "Renamed"}, token=admin)[0] == 200
    both(watchers, lambda s: s.view.get(user.id, {}).get("first_name") == "Renamed")


def test_a_closed_socket_reads_offline_after_the_grace(server, sockets, watchers, user):
    socket = sockets(server)
    socket.auth(log_in(server, user)["access"])
    both(watchers, lambda s: s.status(user.id) == "online")
    socket.close()
    closed_at = time.monotonic()
    staff_socket, _ = watchers
    staff_socket.until(lambda s: s.status(user.id) == "offline")
    took = time.monotonic() - closed_at
    assert took >= GRACE_SECONDS - 0.1, "the session must survive the grace (a page reload)"


def test_a_reload_within_the_grace_never_reads_offline(server, sockets, watchers, user):
    staff_socket, _ = watchers
    tokens = log_in(server, user)
    socket = sockets(server)
    socket.auth(tokens["access"])
    staff_socket.until(lambda s: s.status(user.id) == "online")
    seen_online = len(staff_socket.messages)
    socket.close()
    again = sockets(server)
    again.auth(tokens["access"])
    time.sleep(GRACE_SECONDS + 2)
    staff_socket.send({"type": "ping"})
    staff_socket.until(lambda s: s.messages[-1] == {"type": "pong"})
    statuses = [
        u["online_status"]
        for m in staff_socket.messages[seen_online:]
        if m["type"] == "presence"
        for u in m["users"]
        if u["id"] == user.id
    ]
    assert set(statuses) <= {"online"}, statuses


@pytest.mark.parametrize("how", ["logout", "logout_all", "deactivate"])
def test_revocation_closes_the_sessions_sockets_with_4401(server, sockets, staff, user, how):
    tokens = log_in(server, user)
    socket = sockets(server)
    socket.auth(tokens["access"])
    if how == "logout":
        server.call("POST", "/api/users/logout/", {"refresh": tokens["refresh"]}, token=tokens["access"])
    elif how == "logout_all":
        server.call("POST", "/api/users/logout-all/", {}, token=tokens["access"])
    else:
        admin = log_in(server, staff)["access"]
        assert server.call("POST", f"/api/users/admin/users/{user.id}/deactivate/", {}, token=admin)[0] in (200, 204)
    assert socket.close_code() == 4401


def test_logout_of_one_device_leaves_the_others_socket_open(server, sockets, user):
    phone, laptop = log_in(server, user, "phone"), log_in(server, user, "laptop")
    phone_socket, laptop_socket = sockets(server), sockets(server)
    phone_socket.auth(phone["access"])
    laptop_socket.auth(laptop["access"])
    server.call("POST", "/api/users/logout/", {"refresh": phone["refresh"]}, token=phone["access"])
    assert phone_socket.close_code() == 4401
    laptop_socket.send({"type": "ping"})
    assert laptop_socket.until(lambda s: s.messages[-1] == {"type": "pong"}) >= 0
    assert User.objects.get(pk=user.pk).online_status == "online"
