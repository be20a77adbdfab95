"""The row cache behind the DataLoaders, shared by every server process.

Versioned keys make invalidation race-free: a reader notes the row's version *before* it reads
SQL and stores what it read under that version; a writer, after commit, bumps the version. A
reader that loaded the old row before the commit and stores it after the bump stores it under a
version nobody reads any more. Reads take one round trip (a Lua script returns each row's
current version and, if present, its data); misses are written back in one pipeline.

If Redis is unreachable, reads fall back to SQL (every key a miss) and the outage is logged
once, not per request. Values are compact JSON (never pickle).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.events import Event

logger = logging.getLogger("contentgraph.cache")

CacheKey = tuple[str, str]  # (kind, id hex)
UNKNOWN = -1  # the version could not be read: what SQL returns must not be stored
RETRY = 5.0
Lookup = tuple[dict[str, bytes], dict[str, int]]  # hits by id, versions of the misses

_GET = """
local out = {}
for i, id in ipairs(ARGV) do
  local version = redis.call('GET', KEYS[1] .. ':v:' .. id) or '0'
  out[2 * i - 1] = version
  out[2 * i] = redis.call('GET', KEYS[1] .. ':d:' .. id .. ':' .. version) or false
end
return out
"""


def keys_for(events: Sequence[Event]) -> list[CacheKey]:
    """The cached rows an event makes stale."""
    keys: list[CacheKey] = []
    for event in events:
        area, _, subject = event.topic.partition(":")
        if area in {"contact", "album", "user", "role"}:
            keys.append((area, subject))
        if area == "album":
            keys += [("photo", photo) for photo in event.photo_ids]
            keys.append(("photo_count", subject))
        if area == "files" and event.subject:
            keys.append(("file", event.subject))
    return list(dict.fromkeys(keys))


class RowCache(Protocol):
    async def lookup(self, kind: str, ids: Sequence[str]) -> Lookup: ...

    async def store(self, kind: str, entries: Sequence[tuple[str, int, bytes]]) -> None: ...

    async def invalidate(self, keys: Sequence[CacheKey]) -> None: ...


class NoCache:
    """CACHE_TTL_SECONDS=0: every read goes to SQL."""

    async def lookup(self, kind: str, ids: Sequence[str]) -> Lookup:
        return {}, {key: UNKNOWN for key in ids}

    async def store(self, kind: str, entries: Sequence[tuple[str, int, bytes]]) -> None:
        return None

    async def invalidate(self, keys: Sequence[CacheKey]) -> None:
        return None


class MemoryRowCache:
    """The embedded default: the same versioned scheme in a bounded in-process LRU."""

    def __init__(self, ttl: int, max_entries: int = 50_000) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._versions: dict[CacheKey, int] = {}
        self._data: OrderedDict[tuple[str, str, int], tuple[float, bytes]] = OrderedDict()

    async def lookup(self, kind: str, ids: Sequence[str]) -> Lookup:
        hits: dict[str, bytes] = {}
        misses: dict[str, int] = {}
        now = time.monotonic()
        for key in ids:
            version = self._versions.get((kind, key), 0)
            entry = self._data.get((kind, key, version))
            if entry is not None and entry[0] > now:
                self._data.move_to_end((kind, key, version))
                hits[key] = entry[1]
            else:
                misses[key] = version
        return hits, misses

    async def store(self, kind: str, entries: Sequence[tuple[str, int, bytes]]) -> None:
        expires = time.monotonic() + self.ttl
        for key, version, value in entries:
            self._data[(kind, key, version)] = (expires, value)
            self._data.move_to_end((kind, key, version))
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    async def invalidate(self, keys: Sequence[CacheKey]) -> None:
        for key in keys:
            self._versions[key] = self._versions.get(key, 0) + 1


class RedisRowCache:
    def __init__(self, redis: Redis, prefix: str, ttl: int) -> None:
        self.redis, self.prefix, self.ttl = redis, f"{prefix}:cache", ttl
        self._script = redis.register_script(_GET)
        self._healthy = True
        self._retry_at = 0.0  # while Redis is down, try again only every RETRY seconds

    def _base(self, kind: str) -> str:
        return f"{self.prefix}:{kind}"

    def _failed(self, exc: Exception) -> None:
        if self._healthy:
            logger.warning("row cache unavailable, reading from SQL until Redis returns: %s", exc)
        self._healthy = False
        self._retry_at = time.monotonic() + RETRY

    def _ok(self) -> None:
        if not self._healthy:
            logger.warning("row cache available again")
        self._healthy = True

    async def lookup(self, kind: str, ids: Sequence[str]) -> Lookup:
        if not ids:
            return {}, {}
        if not self._healthy and time.monotonic() < self._retry_at:
            return {}, {key: UNKNOWN for key in ids}
        try:
            flat = await self._script(keys=[self._base(kind)], args=list(ids))
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return {}, {key: UNKNOWN for key in ids}  # all misses; nothing will be stored
        self._ok()
        hits: dict[str, bytes] = {}
        misses: dict[str, int] = {}
        for index, key in enumerate(ids):
            version, data = flat[2 * index], flat[2 * index + 1]
            if data:
                hits[key] = data
            else:
                misses[key] = int(version)
        return hits, misses

    async def store(self, kind: str, entries: Sequence[tuple[str, int, bytes]]) -> None:
        if not entries:
            return
        base = self._base(kind)
        entries = [entry for entry in entries if entry[1] != UNKNOWN]
        if not entries:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, version, value in entries:
                    pipe.set(f"{base}:d:{key}:{version}", value, ex=self.ttl)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed(exc)

    async def invalidate(self, keys: Sequence[CacheKey]) -> None:
        """Bump versions (kept without expiry, so a version can never fall back)."""
        if not keys:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for kind, key in keys:
                    pipe.incr(f"{self._base(kind)}:v:{key}")
                await pipe.execute()
        except (RedisError, OSError) as exc:
            # Stale entries can then live until their TTL: keep CACHE_TTL_SECONDS short.
            logger.error("could not invalidate %d cached rows: %s", len(keys), exc)
            self._failed(exc)
