"""Django's Redis cache: one redis-py client per pool, one pool per server for the process, every call through the breaker."""

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from offchat_backend.redis_breaker import GuardedRedis

# Django keeps a cache instance per async context (its CacheHandler is not thread-critical), so under
# ASGI every presence socket's consumer gets its own instance; a pool per instance held one Redis
# connection per open socket, and Redis refuses clients past its maxclients (10,000 by default).
_pools: dict[tuple, object] = {}
_pools_lock = threading.Lock()


class ReusedClientRedisCacheClient(RedisCacheClient):
    """Django builds a new redis.Redis for every cache call; with redis-py 8 that costs more than the GET itself.

    A client is only a handle on its connection pool and is safe to share between threads, so one per pool does.
    """

    def __init__(self, servers, **options):
        super().__init__(servers, **options)
        self._client = GuardedRedis

    def _get_connection_pool(self, write):
        server = self._servers[self._get_connection_pool_index(write)]
        key = (self._pool_class, server, tuple(sorted((k, repr(v)) for k, v in self._pool_options.items())))
        with _pools_lock:
            if key not in _pools:
                _pools[key] = self._pool_class.from_url(server, **self._pool_options)
            return _pools[key]

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        clients = self.__dict__.setdefault("_clients", {})
        if id(pool) not in clients:
            clients[id(pool)] = self._client(connection_pool=pool)
        return clients[id(pool)]


class ReusedClientRedisCache(RedisCache):
    """The RedisCache backend with ReusedClientRedisCacheClient (every option of RedisCache still applies)."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
