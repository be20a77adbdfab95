"""Every Redis call is bounded: a short deadline, and after a failure a circuit breaker.

Redis is a cache and a bus here, never the only copy of anything: a call that cannot be made
is answered without Redis (read from SQL, count attempts in process, drop the event and tell
subscribers to refetch). What must not happen is waiting for it. A hung Redis (SIGSTOP, a full
network buffer) used to hold every request for seconds; now the first call gives up after
REDIS_TIMEOUT_SECONDS, the breaker opens, and calls fail at once while a probe pings Redis
every cooldown (doubling up to MAX_COOLDOWN); when one answers - or anything else shows Redis
is back, such as the event listener reconnecting - the breaker closes.

One breaker per process, shared by the row cache, the attempt counters and the broker: a
Redis that fails for one fails for all.

Each call runs in its own task behind ``asyncio.shield``: redis-py (8.1, Python 3.11) can
swallow a cancellation that lands mid-command - the command completes and the cancelled task
carries on as if nothing happened (one cancel in seven, in a tight loop). A subscription whose
socket closed then never ended, and shutdown hung. Behind the shield the caller is cancelled
at once, and the command finishes (or is cancelled) on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from app.observability import metrics

logger = logging.getLogger("contentgraph.redis")

T = TypeVar("T")
FIRST_COOLDOWN = 0.1
MAX_COOLDOWN = 1.0
FAILURES = (RedisError, OSError, TimeoutError)


class RedisUnavailable(Exception):
    """Redis could not answer in time, or the breaker is open: do without it."""


class Breaker:
    def __init__(self, timeout: float, probe: Callable[[], Awaitable[Any]] | None) -> None:
        """``probe`` pings Redis while the breaker is open (None: only succeeded() closes it)."""
        self.timeout, self.probe = timeout, probe
        self.is_open = False
        #: Called when Redis answers again after an outage.
        self.on_recovery: list[Callable[[], None]] = []
        #: Outages seen, for /metrics and tests.
        self.trips = 0
        self._probing: asyncio.Task[None] | None = None

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        if self.is_open:
            metrics.redis_errors.labels(kind="circuit_open").inc()
            raise RedisUnavailable("Redis is unavailable (the circuit breaker is open)")
        work = asyncio.ensure_future(make())
        try:
            async with asyncio.timeout(self.timeout):
                return await asyncio.shield(work)
        except FAILURES as error:
            timed_out = isinstance(error, TimeoutError | RedisTimeout)
            metrics.redis_errors.labels(kind="timeout" if timed_out else "error").inc()
            self._trip(error)
            raise RedisUnavailable(str(error) or type(error).__name__) from error
        finally:
            if not work.done():
                work.cancel()
                work.add_done_callback(_retrieve)

    def succeeded(self) -> None:
        """Redis answered something else (the event listener connected): it is back."""
        if self.is_open:
            self._close()

    def _trip(self, error: BaseException) -> None:
        if self.is_open:
            return
        self.is_open = True
        self.trips += 1
        metrics.redis_outages.inc()
        metrics.redis_circuit_open.set(1)
        logger.warning(
            "Redis is unavailable (%s): serving from the database, login attempts counted "
            "in this process, events waiting in the outbox; retrying",
            str(error) or type(error).__name__,
        )
        if self.probe is not None and (self._probing is None or self._probing.done()):
            self._probing = asyncio.create_task(self._probe_until_back(), name="redis-probe")

    async def _probe_until_back(self) -> None:
        assert self.probe is not None
        cooldown = FIRST_COOLDOWN
        while self.is_open:
            await asyncio.sleep(cooldown)
            try:
                async with asyncio.timeout(self.timeout):
                    await self.probe()
            except FAILURES:
                cooldown = min(cooldown * 2, MAX_COOLDOWN)
                continue
            self.succeeded()

    def _close(self) -> None:
        self.is_open = False
        metrics.redis_circuit_open.set(0)
        logger.warning("Redis answers again")
        for listener in self.on_recovery:
            listener()

    async def close(self) -> None:
        if self._probing is not None:
            self._probing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probing


def _retrieve(work: asyncio.Future[Any]) -> None:
    """The outcome of a call nobody waits for any more: read, so asyncio does not log it."""
    if not work.cancelled():
        work.exception()
