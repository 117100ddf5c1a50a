"""Hostile frames get an error or a 4xxx close, never a traceback, never a status change, and the server serves on."""

import pytest

from tests.sockets.conftest import log_in
from users.models import User
from users.sockets import protocol

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

ERRORS = [
    ("{not json", "invalid_json"),
    ("[]", "invalid_message"),
    ('"auth"', "invalid_message"),
    ('{"type": 7}', "invalid_message"),
    ('{"type": "subscribe"}', "unknown_type"),
    ('{"type": "state", "state": "asleep"}', "invalid_message"),
    ('{"type": "state"}', "invalid_message"),
    ('{"type": "auth", "access": ["x"]}', "invalid_message"),
    ('{"type": "auth", "access": "x", "since": 5}', "invalid_message"),
    (b"\x00\x01binary", "binary_unsupported"),
]


@pytest.fixture
def authed(server, sockets, user):
    tokens = log_in(server, user)
    socket = sockets(server)
    socket.auth(tokens["access"])
    return socket


@pytest.mark.parametrize(("frame", "code"), ERRORS)
def test_a_malformed_frame_gets_an_error_and_changes_nothing(authed, user, frame, code):
    before = User.objects.values("online_status", "last_active").get(pk=user.pk)
    authed.send(frame)
    error = authed.next("error")
    assert error["code"] == code and error["detail"]
    authed.send({"type": "ping"})
    assert authed.next("pong") == {"type": "pong"}
    assert User.objects.values("online_status", "last_active").get(pk=user.pk) == before


def test_a_second_auth_is_refused(authed, server, make_user):
    other = make_user(username="other")
    authed.send({"type": "auth", "access": log_in(server, other)["access"]})
    assert authed.next("error")["code"] == "already_authenticated"


def test_an_oversize_frame_closes_with_4413(authed):
    authed.send('{"type": "ping", "pad": "' + "x" * protocol.max_message_chars() + '"}')
    assert authed.close_code() == 4413


def test_a_flood_closes_with_4429_and_the_server_serves_on(authed, server, sockets, staff):
    for _ in range(40):
        authed.send({"type": "ping"})
    assert authed.close_code() == 4429
    fresh = sockets(server)
    assert fresh.auth(log_in(server, staff)["access"])["type"] == "presence"
    assert "Traceback" not in server.process.log()
