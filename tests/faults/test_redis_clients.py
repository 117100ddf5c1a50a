"""The cache's Redis connections under ASGI: every async context (one per presence socket) shares the process's pool.

Django keeps a cache instance per async context; with a pool per instance each held socket kept a Redis
connection of its own, and at 10,000 sockets Redis (maxclients 10,000) refused the revocation checks.
"""

import asyncio

import redis
from asgiref.sync import sync_to_async
from django.core.cache import caches

CONTEXTS = 100
# The pool's connections for the calls that overlap (one thread runs them here), plus the probe's own.
MAX_CLIENTS = 5


def test_async_contexts_share_one_connection_pool(settings, redis_server):
    settings.CACHES = {
        "default": {
            "BACKEND": "offchat_backend.redis_cache.ReusedClientRedisCache",
            "LOCATION": redis_server.url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    probe = redis.Redis.from_url(redis_server.url, socket_timeout=2)

    async def socket_like(index: int, counted: asyncio.Event) -> None:
        # A task is its own context, as each consumer is; it stays alive until the count, as a held socket does.
        await sync_to_async(caches["default"].add)(f"socket-{index}", 1, 60)
        await asyncio.wait_for(counted.wait(), 30)

    async def run() -> int:
        counted = asyncio.Event()
        tasks = [asyncio.create_task(socket_like(i, counted)) for i in range(CONTEXTS)]
        while sum(1 for i in range(CONTEXTS) if probe.exists(f":1:socket-{i}")) < CONTEXTS:
            await asyncio.sleep(0.05)
        clients = probe.info("clients")["connected_clients"]
        counted.set()
        await asyncio.gather(*tasks)
        return clients

    clients = asyncio.run(asyncio.wait_for(run(), 60))
    assert clients <= MAX_CLIENTS, f"{CONTEXTS} async contexts held {clients} Redis connections"
