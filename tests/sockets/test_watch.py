"""Watch lists over a real socket: a socket gets the entries of the users it watches, every change of them, and nothing else."""

import pytest

from tests.sockets.conftest import log_in
from users.models import User
from users.sockets import protocol

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def crowd(make_user):
    """Four users who log in and out while the sockets watch some of them."""
    return [make_user(username=f"member{i}") for i in range(4)]


def ids(answer: dict) -> set[int]:
    return {user["id"] for user in answer["users"]}


def pushed_ids(messages: list[dict]) -> set[int]:
    """Every user id the presence messages among `messages` carried."""
    return {user["id"] for m in messages if m.get("type") == "presence" for user in m["users"]}


def test_a_watch_list_answers_with_exactly_its_users_and_leaves_out_unknown_ids(server, sockets, user, crowd):
    socket = sockets(server)
    socket.auth(log_in(server, user)["access"])
    watched = [crowd[0].id, crowd[1].id, 10**9]

    answer = socket.watch(watched)

    assert answer["type"] == "presence" and answer["full"] is True and answer["cursor"]
    assert ids(answer) == {crowd[0].id, crowd[1].id}
    assert set(socket.view) == {crowd[0].id, crowd[1].id}  # full: everything held before is replaced


def test_only_changes_of_watched_users_are_pushed(server, sockets, user, crowd):
    watched, unwatched = crowd[0], crowd[1]
    socket = sockets(server)
    socket.auth(log_in(server, user)["access"], watch=[watched.id])
    before = len(socket.messages)

    log_in(server, unwatched)  # first: had it been pushed, it would arrive before the next one
    log_in(server, watched)
    socket.until(lambda s: s.status(watched.id) == "online")

    assert unwatched.id not in pushed_ids(socket.messages[before:])
    assert set(socket.view) == {watched.id}


def test_a_rewatch_replaces_the_list_in_force(server, sockets, user, crowd):
    first, second = crowd[0], crowd[1]
    socket = sockets(server)
    socket.auth(log_in(server, user)["access"], watch=[first.id])

    answer = socket.watch([second.id])
    assert ids(answer) == {second.id}
    mark = len(socket.messages)
    log_in(server, first)
    log_in(server, second)
    socket.until(lambda s: s.status(second.id) == "online")

    assert first.id not in pushed_ids(socket.messages[mark:])


def test_an_empty_list_watches_nobody_and_all_watches_everyone(server, sockets, user, crowd):
    socket = sockets(server)
    socket.auth(log_in(server, user)["access"])

    assert socket.watch([])["users"] == []
    everyone = socket.watch("all")

    assert ids(everyone) == set(User.objects.values_list("id", flat=True))
    log_in(server, crowd[2])
    socket.until(lambda s: s.status(crowd[2].id) == "online")


def test_auth_with_a_watch_list_is_scoped_from_the_first_answer(server, sockets, user, crowd):
    socket = sockets(server)

    first = socket.auth(log_in(server, user)["access"], watch=[crowd[0].id, user.id])

    assert first["full"] is True and ids(first) == {crowd[0].id, user.id}


def test_auth_with_a_watch_list_and_a_cursor_sends_the_changes_among_the_watched(server, sockets, user, crowd):
    tokens = log_in(server, user)
    first = sockets(server)
    first.auth(tokens["access"], watch=[crowd[0].id, crowd[1].id])
    cursor = first.cursor
    first.close()
    log_in(server, crowd[0])  # watched, while the socket is away
    log_in(server, crowd[2])  # not watched

    resumed = sockets(server).auth(tokens["access"], since=cursor, watch=[crowd[0].id, crowd[1].id])

    assert resumed["full"] is False
    assert ids(resumed) == {crowd[0].id}
    assert resumed["users"][0]["online_status"] == "online"


def test_a_refused_cursor_with_a_watch_list_gets_the_scoped_snapshot(server, sockets, user, crowd):
    socket = sockets(server)

    first = socket.auth(log_in(server, user)["access"], since="99999999999999999.99999999999.", watch=[crowd[1].id])

    assert first["full"] is True and ids(first) == {crowd[1].id}


@pytest.mark.parametrize(
    "users",
    [[1, 1], [1, "2"], [1.5], [0], "everyone", {"a": 1}],
    ids=["duplicates", "a-string", "a-float", "zero", "a-word", "an-object"],
)
def test_a_bad_watch_list_gets_an_error_and_the_list_in_force_stays(server, sockets, user, crowd, users):
    watched = crowd[0]
    socket = sockets(server)
    socket.auth(log_in(server, user)["access"], watch=[watched.id])

    socket.send({"type": "watch", "users": users})
    error = socket.next("error")

    assert error["code"] == "invalid_watch" and error["detail"]
    mark = len(socket.messages)
    log_in(server, crowd[1])
    log_in(server, watched)
    socket.until(lambda s: s.status(watched.id) == "online")
    assert crowd[1].id not in pushed_ids(socket.messages[mark:])


def test_a_list_over_the_limit_gets_an_error_and_a_list_at_it_is_taken(socket_env, start_server, sockets, user, crowd):
    socket_env["PRESENCE_WATCH_MAX"] = "3"
    server = start_server()
    socket = sockets(server)
    socket.auth(log_in(server, user)["access"], watch=[crowd[0].id])

    socket.send({"type": "watch", "users": [c.id for c in crowd]})
    assert socket.next("error")["code"] == "invalid_watch"
    assert ids(socket.watch([c.id for c in crowd[:3]])) == {c.id for c in crowd[:3]}


def test_a_bad_list_in_auth_is_refused_and_the_socket_stays_unauthenticated(server, sockets, user):
    socket = sockets(server)
    socket.send({"type": "auth", "access": log_in(server, user)["access"], "watch": [1, 1]})
    assert socket.next("error")["code"] == "invalid_watch"
    socket.send({"type": "state", "state": "idle"})
    assert socket.next("error")["code"] == "not_authenticated"


def test_the_frame_limit_fits_the_longest_watch_list(server, sockets, user):
    socket = sockets(server)
    tokens = log_in(server, user)
    longest = list(range(2**63 - 1000, 2**63))  # PRESENCE_WATCH_MAX ids of 19 digits: over 20 KB of JSON

    first = socket.auth(tokens["access"], watch=longest)

    assert first["type"] == "presence" and first["users"] == []


def test_watch_messages_count_against_the_flood_budget(server, sockets, user):
    socket = sockets(server)
    socket.auth(log_in(server, user)["access"])
    for _ in range(40):
        socket.send({"type": "watch", "users": [user.id]})
    assert socket.close_code() == protocol.TOO_MANY


def test_watch_before_auth_is_refused(server, sockets):
    socket = sockets(server)
    socket.send({"type": "watch", "users": [1]})
    assert socket.next("error")["code"] == "not_authenticated"


@pytest.fixture
def staff_only_server(socket_env, start_server):
    """A server where only staff may watch everyone (PRESENCE_WATCH_ALL_FOR=staff)."""
    socket_env["PRESENCE_WATCH_ALL_FOR"] = "staff"
    return start_server()


def test_where_all_is_for_staff_a_regular_socket_watches_only_itself(staff_only_server, sockets, user, crowd):
    server = staff_only_server
    socket = sockets(server)

    first = socket.auth(log_in(server, user)["access"])

    assert ids(first) == {user.id}
    log_in(server, crowd[0])
    socket.send({"type": "state", "state": "idle"})
    socket.until(lambda s: s.status(user.id) == "away")
    assert crowd[0].id not in pushed_ids(socket.messages)


def test_where_all_is_for_staff_a_regular_all_is_forbidden_and_changes_nothing(staff_only_server, sockets, user, crowd):
    server = staff_only_server
    socket = sockets(server)
    socket.auth(log_in(server, user)["access"], watch=[crowd[0].id])

    socket.send({"type": "watch", "users": "all"})

    assert socket.next("error")["code"] == "forbidden"
    log_in(server, crowd[1])
    log_in(server, crowd[0])
    socket.until(lambda s: s.status(crowd[0].id) == "online")
    assert crowd[1].id not in pushed_ids(socket.messages)


def test_where_all_is_for_staff_an_auth_asking_for_all_is_told_and_watches_itself(staff_only_server, sockets, user):
    server = staff_only_server
    socket = sockets(server)
    socket.send({"type": "auth", "access": log_in(server, user)["access"], "watch": "all"})

    assert socket.next("error")["code"] == "forbidden"
    assert ids(socket.next("presence")) == {user.id}


def test_where_all_is_for_staff_staff_still_watch_everyone(staff_only_server, sockets, staff, crowd):
    server = staff_only_server
    socket = sockets(server)

    first = socket.auth(log_in(server, staff)["access"], watch="all")

    assert ids(first) == set(User.objects.values_list("id", flat=True))
