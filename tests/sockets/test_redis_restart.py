"""Redis killed and restarted empty under held sockets: pushes and revocation closes go on (they rest on the
database), and a client that reconnects with its cursor afterwards misses nothing."""

import pytest

from tests.faults.conftest import redis_server  # noqa: F401 - the fault suite's own redis-server
from tests.sockets.conftest import log_in

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server_on_own_redis(socket_env, redis_server, start_server):  # noqa: F811 - the imported fixture
    socket_env.update(REDIS_URL=redis_server.url, CELERY_BROKER_URL="memory://")
    return start_server(), redis_server


def test_sockets_keep_their_pushes_and_revocations_while_redis_is_down_and_after(
    server_on_own_redis, sockets, staff, user, make_user
):
    server, redis = server_on_own_redis
    watcher, leaver = sockets(server), sockets(server)
    watcher.auth(log_in(server, staff)["access"])
    tokens = log_in(server, user)
    leaver.auth(tokens["access"])
    reader = make_user(username="reader")
    resumer = sockets(server)
    resumer.auth(log_in(server, reader)["access"])
    cursor = resumer.cursor
    resumer.close()

    redis.kill()
    carol = make_user(username="carol")
    carol_tokens = log_in(server, carol)
    watcher.until(lambda s: s.status(carol.id) == "online")
    server.call("POST", "/api/users/logout/", {"refresh": tokens["refresh"]}, token=tokens["access"])
    assert leaver.close_code() == 4401
    watcher.until(lambda s: s.status(user.id) == "offline")

    redis.start()  # empty: nothing of before the outage is in it
    server.call("POST", "/api/users/logout/", {"refresh": carol_tokens["refresh"]}, token=carol_tokens["access"])
    watcher.until(lambda s: s.status(carol.id) == "offline")
    again = sockets(server)
    resumed = again.auth(log_in(server, reader)["access"], since=cursor)
    changed = {u["id"]: u["online_status"] for u in resumed["users"]}
    assert resumed["full"] is False and changed[carol.id] == "offline" and changed[user.id] == "offline"
    assert "Traceback" not in server.process.log()
