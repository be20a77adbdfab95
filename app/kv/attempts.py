"""Counters of failed attempts in a fixed window, for login rate limiting."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from app.kv.breaker import Breaker, RedisUnavailable

SWEEP_AT = 10_000


@dataclass(frozen=True, slots=True)
class Tally:
    failures: int
    retry_after: int  # seconds until the window resets; 0 when no window is open


class AttemptCounter(Protocol):
    window: int

    async def tally(self, key: str) -> Tally: ...

    async def fail(self, key: str) -> Tally: ...

    async def reset(self, key: str) -> None: ...

    async def forgive(self, key: str) -> None:
        """Take back one counted attempt (it succeeded)."""
        ...


class MemoryAttemptCounter:
    def __init__(self, *, window: int) -> None:
        self.window = window
        self._windows: dict[str, tuple[int, float]] = {}

    def _current(self, key: str, now: float) -> tuple[int, float]:
        count, resets_at = self._windows.get(key, (0, 0.0))
        if resets_at <= now:
            self._windows.pop(key, None)
            return 0, 0.0
        return count, resets_at

    async def tally(self, key: str) -> Tally:
        now = time.monotonic()
        count, resets_at = self._current(key, now)
        return Tally(count, max(0, round(resets_at - now)) if count else 0)

    async def fail(self, key: str) -> Tally:
        now = time.monotonic()
        if len(self._windows) > SWEEP_AT:
            self._sweep(now)
        count, resets_at = self._current(key, now)
        if not count:
            resets_at = now + self.window
        self._windows[key] = (count + 1, resets_at)
        return Tally(count + 1, max(1, round(resets_at - now)))

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)

    async def forgive(self, key: str) -> None:
        count, resets_at = self._windows.get(key, (0, 0.0))
        if count > 1:
            self._windows[key] = (count - 1, resets_at)
        else:
            self._windows.pop(key, None)

    def _sweep(self, now: float) -> None:
        """Drop closed windows, so made-up usernames cannot grow memory without bound."""
        for key in [k for k, (_, resets_at) in self._windows.items() if resets_at <= now]:
            del self._windows[key]


_FORGIVE = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 1 then return redis.call('DECR', KEYS[1]) end
return redis.call('DEL', KEYS[1])
"""


class RedisAttemptCounter:
    """INCR with the expiry set by the first failure (EXPIRE NX): one window per key.

    While Redis is unavailable (app.kv.breaker), attempts are counted in this process instead:
    logins keep working and keep being limited, per process, until Redis answers again.
    """

    def __init__(self, redis: Redis, prefix: str, *, window: int, breaker: Breaker) -> None:
        self.redis, self.prefix, self.window, self.breaker = redis, prefix, window, breaker
        self.local = MemoryAttemptCounter(window=window)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:attempts:{key}"

    async def tally(self, key: str) -> Tally:
        try:
            return await self.breaker.call(lambda: self._tally(key))
        except RedisUnavailable:
            return await self.local.tally(key)

    async def _tally(self, key: str) -> Tally:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self._key(key))
            pipe.ttl(self._key(key))
            raw, ttl = await pipe.execute()
        count = int(raw or 0)
        return Tally(count, max(int(ttl), 1) if count else 0)

    async def fail(self, key: str) -> Tally:
        try:
            return await self.breaker.call(lambda: self._fail(key))
        except RedisUnavailable:
            return await self.local.fail(key)

    async def _fail(self, key: str) -> Tally:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(self._key(key))
            pipe.expire(self._key(key), self.window, nx=True)
            pipe.ttl(self._key(key))
            count, _, ttl = await pipe.execute()
        return Tally(int(count), max(int(ttl), 1))

    async def reset(self, key: str) -> None:
        await self.local.reset(key)
        with contextlib.suppress(RedisUnavailable):
            await self.breaker.call(lambda: self.redis.delete(self._key(key)))

    async def forgive(self, key: str) -> None:
        await self.local.forgive(key)
        # Never below zero, and never a key without expiry: only decrement what exists.
        with contextlib.suppress(RedisUnavailable):
            await self.breaker.call(lambda: self.redis.eval(_FORGIVE, 1, self._key(key)))
