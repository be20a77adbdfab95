"""The event log: recent events in id order, shared by every server process.

The relay appends committed outbox events to it; each process's broker reads it with one
loop; a subscription resuming ``after`` an event id replays from it. It keeps a bounded window
(the retention): ``floor`` says below which ids events may be gone, so a resume from further
back is answered with RESYNC instead of a silent gap. Redis Streams hold it in production
(app.events.redis_log); this module's in-process log serves the embedded default.
"""

from __future__ import annotations

import asyncio
import bisect
from typing import Protocol

from app.events import Event


class EventLog(Protocol):
    async def top(self) -> int:
        """The highest id appended so far (0: none)."""
        ...

    async def floor(self) -> int:
        """Every event with an id above this is held (up to ``top``)."""
        ...

    async def append(self, events: list[Event]) -> None:
        """Add events in id order; ones at or below ``top`` are already there and skipped,
        so several relays may append the same events concurrently."""
        ...

    async def read(self, after: int, limit: int) -> list[Event]:
        """Held events with ids above ``after``, oldest first."""
        ...

    async def wait(self, after: int, seconds: float) -> list[Event]:
        """As ``read``, but waits up to ``seconds`` for one to arrive."""
        ...

    async def trim(self, below: int) -> None:
        """Drop events with ids below ``below`` (the retention's horizon)."""
        ...

    async def reset(self, floor: int) -> None:
        """Start over empty, holding nothing at or below ``floor`` (a rebuild from the
        outbox, whose older events were pruned)."""
        ...


class MemoryEventLog:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._events: list[Event] = []
        self._ids: list[int] = []
        self._top = 0
        self._floor = 0
        self._arrived = asyncio.Event()

    async def top(self) -> int:
        return self._top

    async def floor(self) -> int:
        return self._floor

    async def append(self, events: list[Event]) -> None:
        fresh = [event for event in events if event.id > self._top]
        if not fresh:
            return
        for event in fresh:
            self._events.append(event)
            self._ids.append(event.id)
            self._top = event.id
        if len(self._events) > self.capacity:
            await self.trim(self._ids[len(self._ids) - self.capacity])
        self._arrived.set()
        self._arrived = asyncio.Event()

    async def read(self, after: int, limit: int) -> list[Event]:
        start = bisect.bisect_right(self._ids, after)
        return self._events[start : start + limit]

    async def wait(self, after: int, seconds: float) -> list[Event]:
        found = await self.read(after, 1000)
        if found:
            return found
        arrived = self._arrived
        try:
            await asyncio.wait_for(arrived.wait(), seconds)
        except TimeoutError:
            return []
        return await self.read(after, 1000)

    async def trim(self, below: int) -> None:
        cut = bisect.bisect_left(self._ids, below)
        if cut:
            self._floor = max(self._floor, self._ids[cut - 1])
            del self._events[:cut], self._ids[:cut]

    async def reset(self, floor: int) -> None:
        self._events, self._ids = [], []
        self._top, self._floor = 0, floor
