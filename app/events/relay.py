"""The relay: committed outbox events to the event log, in id order, in every process.

The process that committed wakes its relay at once; every relay also polls every second, so
events committed by a process that died before relaying them, or while Redis was down, reach
the log as soon as some process can reach both stores. Relays may race: the log skips ids
it holds, and each relay reads from the log's top, so the log stays in order without gaps.

It also applies the retention (the outbox and the log keep the same window) and notices a
log that is ahead of the outbox (a database restored or replaced under the same Redis
prefix), which it rebuilds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.events import outbox
from app.events.log import EventLog
from app.observability import metrics

logger = logging.getLogger("contentgraph.events")

BATCH = 500
POLL_SECONDS = 1.0
PRUNE_SECONDS = 30.0
FLUSH_SECONDS = 0.2


class Relay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        log: EventLog,
        *,
        keep: int,
        keep_seconds: float,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.sessions, self.log = sessions, log
        self.keep, self.keep_seconds, self.poll_seconds = keep, keep_seconds, poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pruned_at = 0.0
        self._failing = False
        #: The highest id this relay knows the log holds; `_progress` is set at each pass.
        self.relayed = 0
        self._progress = asyncio.Event()

    def wake(self) -> None:
        """A transaction with events committed in this process: relay now."""
        self._wake.set()

    async def through(self, event_id: int, seconds: float = FLUSH_SECONDS) -> bool:
        """Wait (a little) until the log holds ``event_id``: a mutation then answers after
        its events are in the log, so a subscription opened after the answer does not get
        them. Concurrent commits share one relay pass. False if it took too long (the events
        stay in the outbox, and the loop relays them when it can)."""
        self.wake()
        if self._task is None or self._failing:  # not running, or a store is away: no waits
            return False
        try:
            async with asyncio.timeout(seconds):
                while self.relayed < event_id:
                    progress = self._progress
                    await progress.wait()
        except TimeoutError:
            return False
        return True

    async def start(self) -> None:
        """Catch up first (what committed while no process relayed: the embedded log starts
        empty), so subscriptions resuming right after a start find their events."""
        if self._task is None:
            try:
                await self.prune()
                await self.relay()
            except Exception as exc:  # the loop retries
                logger.warning("event relay could not catch up at start (%s)", exc)
            self._task = asyncio.create_task(self._run_forever(), name="event-relay")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run_forever(self) -> None:
        delay = self.poll_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            try:
                await self.relay()
                if time.monotonic() - self._pruned_at > PRUNE_SECONDS:
                    await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database or Redis is away: keep the events, retry
                if not self._failing:
                    logger.warning("event relay failing (%s); retrying", exc)
                self._failing = True
                delay = min(delay * 2, 5.0)
                continue
            if self._failing:
                logger.warning("event relay recovered")
            self._failing, delay = False, self.poll_seconds

    async def relay(self) -> int:
        """Copy what the log lacks; returns how many events were read from the outbox."""
        relayed = 0
        while True:
            top = await self.log.top()
            async with self.sessions() as session:
                if top == 0:
                    await self._start_log(session)
                events = await outbox.read_after(session, top, BATCH)
            if events:
                await self.log.append(events)
                metrics.events_published.inc(len(events))
                relayed += len(events)
            self.relayed = max(self.relayed, events[-1].id if events else top)
            progress, self._progress = self._progress, asyncio.Event()
            progress.set()
            if not events:
                return relayed

    async def _start_log(self, session: AsyncSession) -> None:
        """An empty log (first start, or Redis lost it): older events were pruned from the
        outbox, so nothing below its lowest id can be replayed."""
        low, _ = await outbox.bounds(session)
        if low > 1 and await self.log.floor() < low - 1:
            await self.log.reset(floor=low - 1)

    async def prune(self) -> None:
        self._pruned_at = time.monotonic()
        cutoff = datetime.now(UTC) - timedelta(seconds=self.keep_seconds)
        top = await self.log.top()  # before the outbox: what it holds was committed by then
        async with self.sessions() as session, session.begin():
            low, high = await outbox.bounds(session)
            if top > high:
                logger.warning(
                    "the event log is ahead of the outbox (a replaced database?): rebuilt"
                )
                await self.log.reset(floor=max(low - 1, 0))
                return
            below = await outbox.horizon(session, self.keep, cutoff)
            if below > low:
                await outbox.prune(session, below)
        if below > low:
            await self.log.trim(below)
