"""Property: a socket viewer that applies the pushes holds exactly what a full read shows of the users it watches.

Hypothesis draws random interleavings of logins (several devices per user), active and idle
heartbeats, logouts, invisible toggles, sockets opened and dropped by users' devices, the sweep,
time jumps past the grace and the timeout, viewers reconnecting with their last cursor (and their
watch list), and new watch lists. The server side (consumers and the hub) runs in process on an
event loop of its own; writes go through the HTTP API. After every step the hub runs two cycles,
and each viewer's map (every field but last_seen) must equal the feed's full read for that viewer
made right then, restricted to the users it watches: nothing missing, nothing stale, nobody else.
"""

import asyncio
import itertools
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels.testing import WebsocketCommunicator
from django.db import connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from conftest import PASSWORD
from users.models import User
from users.services.simple_online_status import check_and_mark_offline_users
from users.sockets.hub import hub
from users.sockets.protocol import PATH

pytestmark = pytest.mark.django_db(transaction=True)

FEED = "/api/users/presence/"
USERS, DEVICES = 3, 2
_run = itertools.count()

user_ix, device_ix = st.integers(0, USERS - 1), st.integers(0, DEVICES - 1)
operations = st.one_of(
    st.tuples(st.just("login"), user_ix, device_ix),
    st.tuples(st.just("heartbeat"), user_ix, device_ix, st.sampled_from(["active", "idle"])),
    st.tuples(st.just("logout"), user_ix, device_ix),
    st.tuples(st.just("invisible"), user_ix, st.booleans()),
    st.tuples(st.just("open_socket"), user_ix, device_ix),
    st.tuples(st.just("socket_state"), user_ix, device_ix, st.sampled_from(["active", "idle"])),
    st.tuples(st.just("drop_socket"), user_ix, device_ix),
    st.tuples(st.just("sweep")),
    st.tuples(st.just("advance"), st.sampled_from([1, 5, 9, 11, 16, 60, 119, 121, 300])),
    st.tuples(st.just("reconnect"), st.sampled_from(["plain", "staff", "scoped"])),
    # A list of the users (and an id that names nobody), or everyone.
    st.tuples(st.just("watch"), st.one_of(st.just("all"), st.frozensets(st.integers(0, USERS)))),
)


class Loop:
    """An event loop on a thread of its own, where the consumers and the hub run, as in a server process."""

    THREADS = 4

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        # The consumers' database calls run on this pool, each thread on a connection of its own.
        self.pool = ThreadPoolExecutor(self.THREADS)
        self.loop.set_default_executor(self.pool)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float = 20):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self):
        async def stop_hub():
            await hub().stop()

        self.run(stop_hub())
        # Close every pool thread's connection (a barrier puts one call on each thread), or the test
        # database could not be dropped at the end of the run.
        barrier = threading.Barrier(self.THREADS)

        def close_this_threads_connections():
            barrier.wait(5)
            connections.close_all()

        for future in [self.pool.submit(close_this_threads_connections) for _ in range(self.THREADS)]:
            future.result(10)
        self.pool.shutdown()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class SocketClient:
    """A socket over the ASGI application in process; a viewer keeps the map its pushes build."""

    def __init__(self, loop: Loop, application, access: str, watch=None):
        self.loop, self.application, self.access, self.watch = loop, application, access, watch
        self.state: dict[int, tuple] = {}
        self.cursor = None
        self.closed = False

    @staticmethod
    def key(entry):
        return tuple(sorted((name, value) for name, value in entry.items() if name != "last_seen"))

    def apply(self, message):
        if message.get("type") == "presence":
            if message.get("full"):
                self.state = {}  # all of the scope: replace what is held
            if not message.get("more"):
                self.cursor = message["cursor"]
            self.state.update({entry["id"]: self.key(entry) for entry in message["users"]})

    def open(self, since=None):
        async def connect():
            self.socket = WebsocketCommunicator(self.application, PATH)
            connected, _ = await self.socket.connect()
            assert connected
            watch = {} if self.watch is None else {"watch": self.watch}
            await self.socket.send_json_to(
                {"type": "auth", "access": self.access, **({"since": since} if since else {}), **watch}
            )
            return await self.socket.receive_output(10)

        first = self.loop.run(connect())
        self.closed = first["type"] == "websocket.close"
        if not self.closed:
            self.apply(json.loads(first["text"]))
        return self

    def send(self, message):
        if not self.closed:
            self.loop.run(self.socket.send_json_to(message))

    def watches(self, user_id: int) -> bool:
        return self.watch in (None, "all") or user_id in self.watch

    def drain(self):
        async def receive_all():
            messages = []
            while not await self.socket.receive_nothing(timeout=0.05, interval=0.01):
                messages.append(await self.socket.receive_output())
            return messages

        if self.closed:
            return
        for output in self.loop.run(receive_all()):
            if output["type"] == "websocket.close":
                self.closed = True
            elif "text" in output:
                self.apply(json.loads(output["text"]))

    def close(self):
        if not self.closed:
            self.loop.run(self.socket.disconnect())
            self.closed = True


def api_login(username: str, device: str = "") -> dict:
    response = APIClient().post(
        "/api/users/login/", {"username": username, "password": PASSWORD, "device_id": device}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def client_for(tokens: dict) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    return client


@pytest.fixture
def socket_settings(settings):
    settings.PRESENCE_TIMEOUT_SECONDS = 120
    settings.PRESENCE_TOUCH_SECONDS = 15
    settings.PRESENCE_DISCONNECT_GRACE_SECONDS = 10
    settings.PRESENCE_PUSH_SECONDS = 0.02
    settings.PRESENCE_WS_AUTH_SECONDS = 30


def settle(loop: Loop, cycles: int = 2):
    """Wait until the hub has completed `cycles` more cycles."""

    async def wait():
        h = hub()
        target = h.cycles + cycles
        while h.cycles < target:
            h.wake.set()
            await asyncio.sleep(0.01)

    loop.run(wait())


@hypothesis_settings(
    max_examples=12,
    deadline=None,
    # No shrinking: a failure prints its steps, and shrinking a live loop could outlast CI.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(operations, min_size=4, max_size=18))
def test_applying_the_pushes_always_matches_a_full_read(steps, clock, socket_settings, django_user_model):
    from offchat_backend.asgi import application

    run = next(_run)
    names = [f"s{run}u{i}" for i in range(USERS)]
    for name in names:
        django_user_model.objects.create_user(username=name, password=PASSWORD)
    viewers_accounts = {
        "plain": django_user_model.objects.create_user(username=f"s{run}plain", password=PASSWORD),
        "staff": django_user_model.objects.create_user(username=f"s{run}staff", password=PASSWORD, is_staff=True),
        "scoped": django_user_model.objects.create_user(username=f"s{run}scoped", password=PASSWORD),
    }
    user_ids = list(
        django_user_model.objects.filter(username__in=names).order_by("username").values_list("pk", flat=True)
    )
    nobody = max(user_ids) + 1000  # an id that names no user: left out of every answer
    first_scope = [user_ids[0], nobody]
    loop = Loop()
    devices: dict[tuple[int, int], dict] = {}
    sockets: dict[tuple[int, int], SocketClient] = {}
    viewers = {
        kind: SocketClient(
            loop, application, api_login(account.username)["access"], first_scope if kind == "scoped" else None
        ).open()
        for kind, account in viewers_accounts.items()
    }
    readers = {kind: client_for({"access": viewer.access}) for kind, viewer in viewers.items()}

    def check():
        settle(loop)
        for kind, viewer in viewers.items():
            viewer.drain()
            assert not viewer.closed, (steps, kind)
            entries = readers[kind].get(FEED).json()["users"]
            full = {entry["id"]: viewer.key(entry) for entry in entries if viewer.watches(entry["id"])}
            assert viewer.state == full, (steps, kind)

    try:
        check()
        for step in steps:
            kind, target = step[0], step[1:3]
            if kind == "login":
                devices[target] = api_login(names[step[1]], f"d{step[2]}")
            elif kind == "heartbeat" and target in devices:
                client_for(devices[target]).post("/api/users/heartbeat/", {"state": step[3]}, format="json")
            elif kind == "logout" and target in devices:
                tokens = devices.pop(target)
                client_for(tokens).post("/api/users/logout/", {"refresh": tokens["refresh"]}, format="json")
            elif kind == "invisible" and any(owner == step[1] for owner, _ in devices):
                tokens = next(t for (owner, _), t in devices.items() if owner == step[1])
                client_for(tokens).patch("/api/users/me/presence/", {"invisible": step[2]}, format="json")
            elif kind == "open_socket" and target in devices and (target not in sockets or sockets[target].closed):
                sockets[target] = SocketClient(loop, application, devices[target]["access"]).open()
            elif kind == "socket_state" and target in sockets:
                sockets[target].send({"type": "state", "state": step[3]})
            elif kind == "drop_socket" and target in sockets:
                sockets.pop(target).close()
            elif kind == "sweep":
                check_and_mark_offline_users()
            elif kind == "advance":
                clock.advance(step[1])
            elif kind == "reconnect":
                viewer = viewers[step[1]]
                viewer.close()
                viewer.open(since=viewer.cursor)
            elif kind == "watch":
                scoped = viewers["scoped"]
                scoped.watch = "all" if step[1] == "all" else sorted((user_ids + [nobody])[i] for i in step[1])
                scoped.send({"type": "watch", "users": scoped.watch})
            for socket in sockets.values():
                socket.drain()
            check()
    finally:
        for socket in [*sockets.values(), *viewers.values()]:
            socket.close()
        loop.stop()
        User.objects.filter(username__startswith=f"s{run}").delete()
