"""Two server processes on one database (and Redis), plus a worker with beat: every change reaches every viewer."""

import time

import pytest

from tests.sockets.conftest import log_in

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_servers(start_server, celery_worker_beat):
    return start_server(), start_server()


def test_a_change_made_through_either_process_reaches_viewers_on_both(two_servers, sockets, staff, user, make_user):
    a, b = two_servers
    on_a, on_b = sockets(a), sockets(b)
    on_a.auth(log_in(a, staff)["access"])
    on_b.auth(log_in(b, staff)["access"])
    tokens = log_in(b, user)
    for socket in (on_a, on_b):
        socket.until(lambda s: s.status(user.id) == "online")
    other = make_user(username="other")
    other_tokens = log_in(a, other)
    for socket in (on_a, on_b):
        socket.until(lambda s: s.status(other.id) == "online")
    b.call("POST", "/api/users/logout/", {"refresh": tokens["refresh"]}, token=tokens["access"])
    a.call("POST", "/api/users/logout/", {"refresh": other_tokens["refresh"]}, token=other_tokens["access"])
    for socket in (on_a, on_b):
        socket.until(lambda s: s.status(user.id) == "offline" and s.status(other.id) == "offline")


def test_the_workers_sweep_is_pushed(two_servers, sockets, staff, user):
    a, _ = two_servers
    viewer = sockets(a)
    viewer.auth(log_in(a, staff)["access"])
    log_in(a, user)  # then silence: the worker's sweep stores the timeout, and the push shows it
    viewer.until(lambda s: s.status(user.id) == "online")
    viewer.until(lambda s: s.status(user.id) == "offline")


def test_a_logout_on_one_process_closes_the_socket_on_the_other(two_servers, sockets, user):
    a, b = two_servers
    tokens = log_in(a, user)
    socket = sockets(b)
    socket.auth(tokens["access"])
    a.call("POST", "/api/users/logout/", {"refresh": tokens["refresh"]}, token=tokens["access"])
    assert socket.close_code() == 4401


def test_a_socket_moving_to_the_other_process_keeps_its_user_online(two_servers, sockets, staff, user):
    a, b = two_servers
    tokens = log_in(a, user)
    first = sockets(a)
    first.auth(tokens["access"])
    first.close()
    moved = sockets(b)
    moved.auth(tokens["access"])
    viewer = sockets(a)
    viewer.auth(log_in(a, staff)["access"])
    time.sleep(4)
    assert viewer.status(user.id) == "online"
    viewer.send({"type": "ping"})
    viewer.until(lambda s: s.messages[-1] == {"type": "pong"})
    assert viewer.status(user.id) == "online"


def test_a_watched_change_made_anywhere_reaches_its_watchers_on_the_other_process_and_nobody_else(
    two_servers, sockets, staff, user, make_user
):
    a, b = two_servers
    other = make_user(username="other")
    watcher = sockets(a)
    watcher.auth(log_in(a, staff)["access"], watch=[user.id])
    bystander = sockets(a)
    bystander.auth(log_in(a, make_user(username="bystander"))["access"], watch=[other.id])

    log_in(b, user)  # on the other process; then silence, so the timeout and the worker's sweep follow
    watcher.until(lambda s: s.status(user.id) == "online")
    watcher.until(lambda s: s.status(user.id) == "offline")
    log_in(b, other)  # after every change of `user`: had the bystander been sent those, they came first
    bystander.until(lambda s: s.status(other.id) == "online")

    assert set(watcher.view) == {user.id}
    seen_by_bystander = {u["id"] for m in bystander.messages if m.get("type") == "presence" for u in m["users"]}
    assert seen_by_bystander == {other.id}
