"""Per-key token buckets: `rate_per_minute` tokens a minute, at most `burst` saved up; one token per
request. In Redis when `AISYSTEM_REDIS_URL` is set (one bucket per key across every web process, taken
atomically by a Lua script), in this process otherwise (or while Redis cannot be reached: the limit then
holds per process rather than not at all)."""

from __future__ import annotations

import logging
import math
import threading
import time

from backend.core.config import get_settings
from backend.core.errors import AISystemError

log = logging.getLogger(__name__)


class RateLimited(AISystemError):
    def __init__(self, retry_after: float, limit_per_minute: int):
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__("INFER_004", f"Rate limit of {limit_per_minute} predictions a minute exceeded; "
                         f"retry after {self.retry_after} s", {"retryAfterSeconds": self.retry_after,
                                                              "limitPerMinute": limit_per_minute})


class LocalBuckets:
    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, rate_per_minute: int, burst: int, now: float | None = None) -> float:
        """0 when a token was taken, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        rate = rate_per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate if rate > 0 else 60.0

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()


# KEYS[1] bucket; ARGV: rate per second, burst, now (s). Returns the wait in ms (0: token taken).
_SCRIPT = """
local b = redis.call('HMGET', KEYS[1], 't', 'at')
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, at = tonumber(b[1]) or burst, tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate * 1000) end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return wait
"""


class RedisBuckets:
    def __init__(self, url: str):
        import redis

        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2)
        self.script = self.client.register_script(_SCRIPT)

    def take(self, key: str, rate_per_minute: int, burst: int) -> float:
        rate = max(rate_per_minute / 60.0, 1e-6)
        seconds, micros = self.client.time()  # the server's clock: every web process reads the same one
        wait_ms = self.script(keys=[f"aisystem:endpoint-bucket:{key}"],
                              args=[repr(rate), burst, repr(seconds + micros / 1e6)])
        return int(wait_ms) / 1000.0


LOCAL = LocalBuckets()
_redis: dict[str, RedisBuckets] = {}


def take(key: str, *, rate_per_minute: int, burst: int) -> None:
    """Take one token of `key`'s bucket or raise INFER_004 with the seconds to wait."""
    url = get_settings().redis_url
    wait = None
    if url:
        try:
            buckets = _redis.get(url) or _redis.setdefault(url, RedisBuckets(url))
            wait = buckets.take(key, rate_per_minute, burst)
        except Exception:
            log.warning("Redis rate limiting unavailable; limiting in this process", exc_info=True)
    if wait is None:
        wait = LOCAL.take(key, rate_per_minute, burst)
    if wait > 0:
        raise RateLimited(wait, rate_per_minute)
