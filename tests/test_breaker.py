"""The breaker's calls against a real Redis: a cancelled caller is cancelled."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from app.kv.breaker import Breaker


async def test_a_caller_cancelled_mid_command_is_cancelled(redis: Redis) -> None:
    """redis-py alone lets about one cancel in seven through unnoticed (the command
    completes, the task carries on); a subscription then outlived its socket."""
    breaker = Breaker(5.0, redis.ping)
    carried_on = 0

    async def caller() -> None:
        nonlocal carried_on
        await breaker.call(lambda: redis.xlen("cgtest-breaker:none"))
        carried_on += 1

    for attempt in range(400):
        task = asyncio.create_task(caller())
        await asyncio.sleep(0.0001 * (attempt % 20))  # land the cancel at every stage
        if task.done():
            continue
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 2)
    assert not breaker.is_open
    # Every call that was not already over when cancelled, ended cancelled.
    assert carried_on < 400
