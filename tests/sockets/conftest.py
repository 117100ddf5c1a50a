"""The socket suite's fixtures: live servers (the Procfile's runserver, which serves the socket), and a socket client.

Servers run the development settings on this test's database, with the presence intervals of the
live suite (timeout 3 s, touch 1 s) and a short disconnect grace, so every kind of push happens
within a test's seconds.
"""

import json
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conftest import PASSWORD
from tests.live.conftest import (  # noqa: F401  (the live suite's fixtures, shared)
    Api,
    celery_worker_beat,
    free_port,
    live_env,
    procfile_command,
    pytest_runtest_makereport,
    start_process,
    wait_until,
    wait_until_healthy,
)
from users.sockets.protocol import PATH

GRACE_SECONDS = 1.5
AUTH_SECONDS = 3  # generous: on a loaded machine an auth sent at once can take a second to be read
# How long a test waits for a push; the target is 1 s, and the benchmark measures it (docs/BENCHMARKS.md).
PUSH_WAIT = 8


@pytest.fixture
def socket_env(live_env, settings):  # noqa: F811 - the imported fixture, requested by name
    """The live environment, plus the socket's short intervals and the test's signing key (to mint expired tokens)."""
    live_env.update(
        PRESENCE_DISCONNECT_GRACE_SECONDS=str(GRACE_SECONDS),
        PRESENCE_WS_AUTH_SECONDS=str(AUTH_SECONDS),
        SECRET_KEY=settings.SECRET_KEY,
        LOGIN_THROTTLE_IP_RATE="100000/min",
        LOGIN_THROTTLE_USERNAME_RATE="100000/min",
    )
    return live_env


@pytest.fixture
def start_server(socket_env, start_process):  # noqa: F811 - the imported fixture, requested by name
    """Start one more server process (the Procfile's web command) on a free port; returns its Api."""
    count = iter(range(100))

    def start() -> Api:
        port = free_port()
        argv = [(f"127.0.0.1:{port}" if arg.startswith("127.0.0.1:") else arg) for arg in procfile_command("web")]
        process = start_process(f"web{next(count)}", argv)
        api = Api(f"http://127.0.0.1:{port}")
        wait_until_healthy(api, process)
        api.process, api.ws_url = process, f"ws://127.0.0.1:{port}{PATH}"
        return api

    return start


@pytest.fixture
def server(start_server) -> Api:
    return start_server()


class Socket:
    """A presence socket client that keeps the view its pushes build: user id -> the user's last entry."""

    def __init__(self, url: str, **options):
        self.ws = connect(url, open_timeout=10, close_timeout=2, legacy=True, **options)
        self.view: dict[int, dict] = {}
        self.cursor = None
        self.messages: list[dict] = []

    def send(self, message) -> None:
        self.ws.send(message if isinstance(message, str | bytes) else json.dumps(message))

    def recv(self, timeout: float = PUSH_WAIT) -> dict:
        message = json.loads(self.ws.recv(timeout=timeout))
        self.messages.append(message)
        if message.get("type") == "presence":
            if message.get("full"):
                self.view = {}  # all of the scope: replace what is held
            if not message.get("more"):
                self.cursor = message["cursor"]
            self.view.update({user["id"]: user for user in message["users"]})
        return message

    def next(self, kind: str, timeout: float = PUSH_WAIT) -> dict:
        """The next message of type `kind`, applying any push that comes first."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.recv(timeout=max(0.05, deadline - time.monotonic()))
            if message.get("type") == kind:
                return message

    def auth(self, access: str, since: str | None = None, **extra) -> dict:
        """Authenticate (`watch=` may name a list); returns the first presence answer, its parts joined into one."""
        self.send({"type": "auth", "access": access, **({"since": since} if since else {}), **extra})
        return self._joined(self.recv())

    def watch(self, users) -> dict:
        """Watch `users` (ids, or "all"); returns the answer (`full: true`), its parts joined, after any push before it."""
        self.send({"type": "watch", "users": users})
        first = self.recv()
        while not (first.get("type") == "presence" and first.get("full")):
            if first.get("type") == "error":
                return first
            first = self.recv()
        return self._joined(first)

    def _joined(self, first: dict) -> dict:
        answer = {**first, "users": list(first.get("users", []))}
        while first.get("type") == "presence" and first.get("more"):
            first = self.recv()
            answer["users"] += first["users"]
            answer["cursor"] = first["cursor"]
        answer.pop("more", None)
        return answer

    def status(self, user_id: int) -> str | None:
        return (self.view.get(user_id) or {}).get("online_status")

    def until(self, predicate, timeout: float = PUSH_WAIT) -> float:
        """Apply pushes until predicate(self) holds; returns the seconds it took."""
        start = time.monotonic()
        while not predicate(self):
            left = timeout - (time.monotonic() - start)
            if left <= 0:
                pytest.fail(f"no push made it true within {timeout}s; view: {self.view}")
            try:
                self.recv(timeout=left)
            except TimeoutError:
                continue
        return time.monotonic() - start

    def close_code(self, timeout: float = PUSH_WAIT) -> int | None:
        """Read until the server closes the socket; its close code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.recv(timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
        pytest.fail(f"the server did not close the socket within {timeout}s")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def sockets():
    """Open Socket clients; all closed when the test ends."""
    opened: list[Socket] = []

    def open_socket(server: Api, **options) -> Socket:
        socket = Socket(server.ws_url, **options)
        opened.append(socket)
        return socket

    yield open_socket
    for socket in opened:
        socket.close()


def log_in(api: Api, user, device_id: str = "") -> dict:
    """Log in over HTTP; the login response (tokens, user, presence)."""
    body = {"username": user.username, "password": PASSWORD, **({"device_id": device_id} if device_id else {})}
    status, _, response = api.call("POST", "/api/users/login/", body)
    assert status == 200, response
    return response
