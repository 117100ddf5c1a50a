"""The one owner of the web process's Redis health: a circuit breaker every Redis call of the cache goes through.

After a failed call the breaker opens: for REDIS_BREAKER_OPEN_SECONDS no call reaches Redis (callers
get CircuitBreakerError at once and take their fallback), then one call goes through as the probe;
its success closes the breaker, its failure opens it again. A Redis that stalls or drops packets
therefore costs one socket timeout per open period, not one per call (docs/RELIABILITY.md).
"""

import logging

import pybreaker
import redis
from django.conf import settings

logger = logging.getLogger(__name__)

# Redis errors open the breaker; anything else (a bad key, say) is the caller's bug, not Redis's health.
FAILURES = (redis.ConnectionError, redis.TimeoutError, OSError)


class TransitionLog(pybreaker.CircuitBreakerListener):
    """One log line and one counted transition per state change, never one per call."""

    def __init__(self):
        self.transitions: dict[tuple[str, str], int] = {}

    def state_change(self, cb, old_state, new_state):
        key = (old_state.name if old_state else "none", new_state.name)
        self.transitions[key] = self.transitions.get(key, 0) + 1
        logger.warning("redis breaker %s -> %s", *key)


transitions = TransitionLog()
breaker = pybreaker.CircuitBreaker(
    fail_max=1,
    reset_timeout=settings.REDIS_BREAKER_OPEN_SECONDS,
    exclude=[lambda error: not isinstance(error, FAILURES)],
    listeners=[transitions],
    name="redis",
)


def state() -> str:
    """closed (Redis answers), open (skipped after a failure) or half-open (a probe is due)."""
    return breaker.current_state


class GuardedRedis(redis.Redis):
    """redis-py's client with every command through the breaker."""

    def execute_command(self, *args, **options):
        return breaker.call(super().execute_command, *args, **options)
