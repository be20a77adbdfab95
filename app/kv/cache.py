"""The row cache behind the DataLoaders, shared by every server process.

Versioned keys make invalidation race-free: a reader notes the row's version *before* it reads
SQL and stores what it read under that version; a writer, after commit, bumps the version. A
reader that loaded the old row before the commit and stores it after the bump stores it under a
version nobody reads any more. Reads take one round trip (a Lua script returns each row's
current version and, if present, its data); misses are written back in another.

The versions live in Redis, so they are only as good as Redis' memory of them. Two things can
make a cached row older than a committed write, and each starts a fresh *generation* (a key
namespace) instead:

- Redis forgot: it restarted empty, failed over, or came back from an older snapshot (with
  old rows under old versions). Every script compares Redis' run id with the one the
  current generation was made under, and starts a new one when they differ.
- Redis missed an invalidation: a write committed while Redis did not answer. That process
  remembers the generation it could not invalidate and, the moment Redis answers, replaces it
  (a probe runs every PROBE_INTERVAL seconds meanwhile, so this does not wait for traffic).

A reader stores only into the generation it read from. Calls go through the process's circuit
breaker (app.kv.breaker): while Redis is unavailable every read is a miss served by SQL, and
nothing is stored. Values are compact JSON (never pickle).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from redis.asyncio import Redis

from app.events import Event
from app.kv.breaker import Breaker, RedisUnavailable

logger = logging.getLogger("contentgraph.cache")

CacheKey = tuple[str, str]  # (kind, id hex)
PROBE_INTERVAL = 0.1
ANY = "*"

#: The current generation, replaced when Redis' run id is not the one it was made under, or
#: when it is the generation the caller knows to be stale ('*': whichever is current).
_GENERATION = """
local function generation(key, stale, nonce)
  local run = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
  local current = redis.call('GET', key)
  if (not current) or string.sub(current, 1, #run + 1) ~= run .. ':'
     or current == stale or stale == '*' then
    current = run .. ':' .. nonce
    redis.call('SET', key, current)
  end
  return current
end
"""

# KEYS[1] generation key; ARGV: stale, nonce, base, kind, ids...
_LOOKUP = (
    _GENERATION
    + """
local gen = generation(KEYS[1], ARGV[1], ARGV[2])
local base = ARGV[3] .. ':' .. gen .. ':' .. ARGV[4]
local out = {gen}
for i = 5, #ARGV do
  local version = redis.call('GET', base .. ':v:' .. ARGV[i]) or '0'
  out[#out + 1] = version
  out[#out + 1] = redis.call('GET', base .. ':d:' .. ARGV[i] .. ':' .. version) or false
end
return out
"""
)

# KEYS[1] generation key; ARGV: the generation read from, base, kind, ttl, (id, version, value)...
# A version key outlives every row stored under it, so a version number is never reused while
# an older row stored under it could still be read.
_STORE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local base = ARGV[2] .. ':' .. ARGV[1] .. ':' .. ARGV[3]
local ttl = tonumber(ARGV[4])
for i = 5, #ARGV, 3 do
  redis.call('SET', base .. ':d:' .. ARGV[i] .. ':' .. ARGV[i + 1], ARGV[i + 2], 'EX', ttl)
  local version = base .. ':v:' .. ARGV[i]
  if redis.call('TTL', version) < 2 * ttl and redis.call('EXISTS', version) == 1 then
    redis.call('EXPIRE', version, 2 * ttl)
  end
end
return 1
"""

# KEYS[1] generation key; ARGV: stale, nonce, base, ttl, (kind, id)...
_INVALIDATE = (
    _GENERATION
    + """
local gen = generation(KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[4])
for i = 5, #ARGV, 2 do
  local version = ARGV[3] .. ':' .. gen .. ':' .. ARGV[i] .. ':v:' .. ARGV[i + 1]
  redis.call('INCR', version)
  redis.call('EXPIRE', version, 2 * ttl)
end
return gen
"""
)


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


@dataclass(frozen=True, slots=True)
class Read:
    """A lookup's answer: the rows found, and for the others the version to store them under
    (in the generation they were looked up in; None: they must not be stored)."""

    hits: dict[str, bytes]
    versions: dict[str, int] = field(default_factory=dict)
    generation: str | None = None

    @property
    def misses(self) -> list[str]:
        return list(self.versions)


def all_misses(ids: Sequence[str]) -> Read:
    """Every id read from SQL, nothing stored back."""
    return Read({}, dict.fromkeys(ids, 0), None)


class RowCache(Protocol):
    async def lookup(self, kind: str, ids: Sequence[str]) -> Read: ...

    async def store(self, kind: str, read: Read, entries: Sequence[tuple[str, bytes]]) -> None:
        """Write back rows read from SQL after ``read`` missed them."""
        ...

    async def invalidate(self, keys: Sequence[CacheKey]) -> None: ...


class NoCache:
    """CACHE_TTL_SECONDS=0: every read goes to SQL."""

    async def lookup(self, kind: str, ids: Sequence[str]) -> Read:
        return all_misses(ids)

    async def store(self, kind: str, read: Read, entries: Sequence[tuple[str, bytes]]) -> None:
        return None

    async def invalidate(self, keys: Sequence[CacheKey]) -> None:
        return None


class MemoryRowCache:
    """The embedded default: the same versioned scheme in a bounded in-process LRU."""

    GENERATION = "memory"

    def __init__(self, ttl: int, max_entries: int = 50_000) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._versions: dict[CacheKey, int] = {}
        self._data: OrderedDict[tuple[str, str, int], tuple[float, bytes]] = OrderedDict()

    async def lookup(self, kind: str, ids: Sequence[str]) -> Read:
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
        return Read(hits, misses, self.GENERATION)

    async def store(self, kind: str, read: Read, entries: Sequence[tuple[str, bytes]]) -> None:
        if read.generation is None:
            return
        expires = time.monotonic() + self.ttl
        for key, value in entries:
            slot = (kind, key, read.versions[key])
            self._data[slot] = (expires, value)
            self._data.move_to_end(slot)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    async def invalidate(self, keys: Sequence[CacheKey]) -> None:
        for key in keys:
            self._versions[key] = self._versions.get(key, 0) + 1


class RedisRowCache:
    def __init__(self, redis: Redis, prefix: str, ttl: int, breaker: Breaker) -> None:
        self.redis, self.ttl, self.breaker = redis, ttl, breaker
        self.base = f"{prefix}:cache"
        self.generation_key = f"{prefix}:cache:generation"
        self._lookup = redis.register_script(_LOOKUP)
        self._store = redis.register_script(_STORE)
        self._invalidate = redis.register_script(_INVALIDATE)
        #: The last generation seen, and one that missed an invalidation (to be replaced).
        self.generation: str | None = None
        self.stale: str | None = None
        self._probe: asyncio.Task[None] | None = None

    def _seen(self, generation: bytes | str) -> None:
        current = generation.decode() if isinstance(generation, bytes) else generation
        if self.stale is not None and current != self.stale:
            logger.warning("row cache: generation %s replaced, nothing stale is served", self.stale)
            self.stale = None
        self.generation = current

    async def lookup(self, kind: str, ids: Sequence[str]) -> Read:
        if not ids:
            return Read({})
        arguments = [self.stale or "", secrets.token_hex(8), self.base, kind, *ids]
        try:
            flat = await self.breaker.call(
                lambda: self._lookup(keys=[self.generation_key], args=arguments)
            )
        except RedisUnavailable:
            return all_misses(ids)
        self._seen(flat[0])
        hits: dict[str, bytes] = {}
        versions: dict[str, int] = {}
        for index, key in enumerate(ids):
            version, data = flat[1 + 2 * index], flat[2 + 2 * index]
            if data:
                hits[key] = data
            else:
                versions[key] = int(version)
        return Read(hits, versions, self.generation)

    async def store(self, kind: str, read: Read, entries: Sequence[tuple[str, bytes]]) -> None:
        if not entries or read.generation is None or read.generation == self.stale:
            return
        arguments: list[Any] = [read.generation, self.base, kind, self.ttl]
        for key, value in entries:
            arguments += [key, read.versions[key], value]
        with contextlib.suppress(RedisUnavailable):
            await self.breaker.call(lambda: self._store(keys=[self.generation_key], args=arguments))

    async def invalidate(self, keys: Sequence[CacheKey]) -> None:
        """Bump versions in the current generation; if Redis does not answer, that
        generation may now hold rows older than this commit: replace it as soon as it does."""
        if not keys:
            return
        arguments: list[Any] = [self.stale or "", secrets.token_hex(8), self.base, self.ttl]
        for kind, key in keys:
            arguments += [kind, key]
        try:
            generation = await self.breaker.call(
                lambda: self._invalidate(keys=[self.generation_key], args=arguments)
            )
        except RedisUnavailable:
            self._missed_invalidation()
            return
        self._seen(generation)

    def _missed_invalidation(self) -> None:
        if self.stale is None:
            self.stale = self.generation or ANY  # none seen yet: replace whichever is current
            logger.warning(
                "row cache: an invalidation did not reach Redis; its generation will be "
                "replaced as soon as Redis answers"
            )
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._replace_stale(), name="row-cache-probe")

    async def _replace_stale(self) -> None:
        """Until the stale generation is replaced: a write committed while Redis was away must
        not be outlived by the cached row it changed, even in a process that sees no traffic."""
        while True:
            await asyncio.sleep(PROBE_INTERVAL)
            stale = self.stale  # read after the sleep: another call may have replaced it
            if stale is None:
                return
            arguments: list[Any] = [stale, secrets.token_hex(8), self.base, self.ttl]
            replace = partial(self._invalidate, keys=[self.generation_key], args=arguments)
            with contextlib.suppress(RedisUnavailable):
                self._seen(await self.breaker.call(replace))

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
