"""The event log on a Redis Stream: entry ``<event id>-0`` per event, one stream for all topics.

Entry ids are the outbox ids, so appending is idempotent (Redis refuses an id at or below the
stream's top, and the script skips it) and a reader resumes with a plain ``XREAD`` after the
last id it saw. The stream holds a gap-free run of the outbox, so everything after its first
entry is there: that entry marks the floor. A rebuild (Redis lost the stream, or the database
was replaced) also records the floor it starts from, for the moment the stream is empty.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from app.events import Event
from app.kv.breaker import Breaker

FIELD = b"e"

#: XADD each (id, payload) pair in order; ids at or below the top are already there.
_APPEND = """
for i = 1, #ARGV, 2 do
  redis.pcall('XADD', KEYS[1], ARGV[i] .. '-0', 'e', ARGV[i + 1])
end
return 0
"""


def _id(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


def _events(entries: list[Any]) -> list[Event]:
    return [Event.decode(fields[FIELD], _id(entry_id)) for entry_id, fields in entries]


class RedisEventLog:
    def __init__(self, redis: Redis, prefix: str, breaker: Breaker | None = None) -> None:
        """Calls go through ``breaker`` (a hung Redis costs them its short deadline, then
        nothing while it is open) - all but ``wait``, which blocks by design."""
        self.redis = redis
        self.breaker = breaker or Breaker(5.0, redis.ping)
        self.key = f"{prefix}:events"
        self.floor_key = f"{prefix}:events:floor"
        self._append = redis.register_script(_APPEND)

    async def _info(self) -> dict[Any, Any]:
        async def info() -> dict[Any, Any]:
            try:
                found: dict[Any, Any] = await self.redis.xinfo_stream(self.key)
            except ResponseError:  # no such key: nothing appended yet (or Redis lost it)
                return {}
            return found

        return await self.breaker.call(info)

    async def top(self) -> int:
        info = await self._info()
        return _id(info["last-generated-id"]) if info else 0

    async def floor(self) -> int:
        info = await self._info()
        if not info:
            held_from = 0
        elif info["length"]:
            # The relay appends a gap-free run of the outbox, so the stream is complete from
            # its first entry. (Redis 7.0 does not count trimmed entries in
            # max-deleted-entry-id, so the first entry is the reliable mark.)
            held_from = _id(info["first-entry"][0]) - 1
        else:
            held_from = _id(info["last-generated-id"])
        own = await self.breaker.call(partial(self.redis.get, self.floor_key))
        return max(held_from, int(own or 0))

    async def append(self, events: list[Event]) -> None:
        if not events:
            return
        arguments: list[Any] = []
        for event in events:
            arguments += [event.id, event.encode()]
        await self.breaker.call(partial(self._append, keys=[self.key], args=arguments))

    async def read(self, after: int, limit: int) -> list[Event]:
        entries: Any = await self.breaker.call(
            partial(self.redis.xrange, self.key, min=f"({after}-0", max="+", count=limit)
        )
        return _events(entries)

    async def wait(self, after: int, seconds: float) -> list[Event]:
        found: Any = await self.redis.xread(
            {self.key: f"{after}-0"}, count=1000, block=max(1, int(seconds * 1000))
        )
        return _events(found[0][1]) if found else []

    async def trim(self, below: int) -> None:
        await self.breaker.call(
            partial(self.redis.xtrim, self.key, minid=f"{below}-0", approximate=False)
        )

    async def reset(self, floor: int) -> None:
        async def reset() -> None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(self.key)
                pipe.set(self.floor_key, floor)
                await pipe.execute()

        await self.breaker.call(reset)
