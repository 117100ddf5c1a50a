"""The presence socket's protocol over a real socket against a live server: auth, Origin, snapshot, resume, ping."""

import time
from datetime import timedelta

import pytest
from rest_framework_simplejwt.tokens import AccessToken
from websockets.exceptions import InvalidStatus

from tests.sockets.conftest import AUTH_SECONDS, log_in
from users.models import PresenceSession

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_login_response_names_the_socket(server, user):
    assert log_in(server, user)["presence"]["websocket"] == "/ws/presence/"


def test_auth_gives_the_snapshot_of_everyone_as_the_feed_does(server, sockets, user, staff):
    tokens = log_in(server, user)
    socket = sockets(server)
    first = socket.auth(tokens["access"])
    assert first["type"] == "presence" and first["full"] is True and first["cursor"]
    _, _, feed = server.call("GET", "/api/users/presence/", token=tokens["access"])
    assert {u["id"]: u["online_status"] for u in first["users"]} == {u["id"]: u["online_status"] for u in feed["users"]}
    assert socket.status(user.id) == "online" and socket.status(staff.id) == "offline"


@pytest.mark.parametrize("access", ["not-a-token", "a.b.c", "x" * 900])
def test_a_bad_token_is_closed_with_4401(server, sockets, access):
    socket = sockets(server)
    socket.send({"type": "auth", "access": access})
    assert socket.close_code() == 4401


def test_an_expired_token_is_closed_with_4401(server, sockets, user):
    sid = log_in(server, user)["access"] and PresenceSession.objects.get(user=user).sid
    expired = AccessToken.for_user(user)
    expired["sid"] = sid
    expired.set_exp(lifetime=-timedelta(seconds=5))
    socket = sockets(server)
    socket.send({"type": "auth", "access": str(expired)})
    assert socket.close_code() == 4401


def test_a_logged_out_token_is_closed_with_4401(server, sockets, user):
    tokens = log_in(server, user)
    assert server.call("POST", "/api/users/logout/", {"refresh": tokens["refresh"]}, token=tokens["access"])[0] == 200
    socket = sockets(server)
    socket.send({"type": "auth", "access": tokens["access"]})
    assert socket.close_code() == 4401
    user.refresh_from_db()
    assert user.online_status == "offline"


def test_no_auth_within_the_limit_is_closed_with_4401(server, sockets):
    socket = sockets(server)
    socket.send({"type": "ping"})
    assert socket.next("pong") == {"type": "pong"}
    assert socket.close_code(timeout=AUTH_SECONDS + 5) == 4401


def test_messages_before_auth_are_refused_without_closing(server, sockets, user):
    socket = sockets(server)
    socket.send({"type": "state", "state": "active"})
    assert socket.next("error")["code"] == "not_authenticated"
    user.refresh_from_db()
    assert user.online_status == "offline"


def test_a_foreign_origin_is_refused_at_the_handshake(server, sockets):
    with pytest.raises(InvalidStatus) as refused:
        sockets(server, origin="http://evil.example")
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://127.0.0.1:8000", None])
def test_own_and_cors_origins_and_clients_without_origin_are_let_in(server, sockets, user, origin):
    tokens = log_in(server, user)
    socket = sockets(server, origin=origin) if origin else sockets(server)
    assert socket.auth(tokens["access"])["type"] == "presence"


def test_ping_gets_pong(server, sockets, user):
    socket = sockets(server)
    socket.auth(log_in(server, user)["access"])
    socket.send({"type": "ping"})
    assert socket.next("pong") == {"type": "pong"}


def test_a_resume_from_a_cursor_sends_only_what_changed_since(server, sockets, user, staff, make_user):
    quiet = make_user(username="quiet")
    tokens = log_in(server, staff)
    first = sockets(server)
    first.auth(tokens["access"])
    cursor = first.cursor
    first.close()
    log_in(server, user)  # while the viewer is away
    again = sockets(server)
    resumed = again.auth(tokens["access"], since=cursor)
    changed = {u["id"]: u["online_status"] for u in resumed["users"]}
    assert resumed["full"] is False
    assert changed.get(user.id) == "online" and quiet.id not in changed


def test_a_refused_cursor_gets_a_full_snapshot(server, sockets, user):
    tokens = log_in(server, user)
    socket = sockets(server)
    first = socket.auth(tokens["access"], since="99999999999999999.99999999999.")
    assert first["full"] is True and socket.status(user.id) == "online"


@pytest.mark.parametrize("since", ["9" * 20 + ".1.", "1.1." + "9" * 20], ids=["past-a-datetime", "past-a-bigint"])
def test_a_cursor_with_numbers_no_server_issues_gets_a_full_snapshot_and_the_hub_goes_on(
    server, sockets, user, staff, since
):
    """The cursor's form, numbers too large for a datetime or a bigint column: refused like any unknown cursor."""
    socket = sockets(server)
    assert socket.auth(log_in(server, user)["access"], since=since)["full"] is True
    watcher = sockets(server)
    assert watcher.auth(log_in(server, staff)["access"])["full"] is True
    assert watcher.status(user.id) == "online"


def test_a_socket_keeps_its_user_online_with_no_http_heartbeat(server, sockets, user, staff):
    socket = sockets(server)
    socket.auth(log_in(server, user)["access"])
    # The live suite's timeout is 3 s: only the hub's touch (every second) keeps the session fresh.
    time.sleep(6)
    _, _, feed = server.call("GET", "/api/users/presence/", token=log_in(server, staff)["access"])
    assert {u["id"]: u["online_status"] for u in feed["users"]}[user.id] == "online"


def test_state_messages_are_heartbeats(server, sockets, user, staff):
    watcher = sockets(server)
    watcher.auth(log_in(server, staff)["access"])
    socket = sockets(server)
    socket.auth(log_in(server, user)["access"])
    socket.send({"type": "state", "state": "idle"})
    watcher.until(lambda s: s.status(user.id) == "away")
    socket.send({"type": "state", "state": "active"})
    watcher.until(lambda s: s.status(user.id) == "online")


def test_a_snapshot_of_thousands_of_users_arrives_whole_in_parts(server, sockets, user, django_user_model):
    # About 1.6 MB as one message: over the server's 1 MiB message limit, which would drop it.
    django_user_model.objects.bulk_create(
        [
            django_user_model(
                username=f"a-member-of-a-large-directory-{i}", first_name="Maximiliana", last_name="Vasilakopoulou"
            )
            for i in range(8000)
        ]
    )
    socket = sockets(server)
    first = socket.auth(log_in(server, user)["access"])
    parts = [m for m in socket.messages if m["type"] == "presence"]
    assert len(parts) >= 3 and parts[0]["full"] is True and parts[0]["more"] is True and "more" not in parts[-1]
    assert len(first["users"]) == django_user_model.objects.count()
    assert socket.cursor == parts[-1]["cursor"]
