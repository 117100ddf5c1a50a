"""Django's Redis cache: one redis-py client per connection pool instead of one per call, every call through the breaker."""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from offchat_backend.redis_breaker import GuardedRedis


class ReusedClientRedisCacheClient(RedisCacheClient):
    """Django builds a new redis.Redis for every cache call; with redis-py 8 that costs more than the GET itself.

    A client is only a handle on its connection pool and is safe to share between threads, so one per pool does.
    """

    def __init__(self, servers, **options):
        super().__init__(servers, **options)
        self._client = GuardedRedis

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
