"""Subscribers take turns with the rest of the process: at most `per_turn` of them proceed
per turn of the event loop, in the order they asked, and whatever else became ready runs
between the turns."""

from __future__ import annotations

import asyncio

from schema.pacing import Pacer


async def test_at_most_per_turn_proceed_each_loop_turn_in_order() -> None:
    pacer = Pacer(per_turn=3)
    order: list[int] = []

    async def subscriber(number: int) -> None:
        await pacer.turn()
        order.append(number)

    tasks = [asyncio.create_task(subscriber(n)) for n in range(10)]
    seen_per_turn: list[int] = []
    while not all(task.done() for task in tasks):
        before = len(order)
        await asyncio.sleep(0)  # one turn of the loop for everyone else
        seen_per_turn.append(len(order) - before)
    assert order == list(range(10))
    assert max(seen_per_turn) <= 3
    assert sum(seen_per_turn) == 10


async def test_a_cancelled_waiter_gives_its_place_up() -> None:
    pacer = Pacer(per_turn=1)
    first, waiting, after = (asyncio.create_task(pacer.turn()) for _ in range(3))
    await asyncio.sleep(0)  # they all ask in one turn: the first gets it, two wait
    assert first.done() and not waiting.done() and not after.done()
    waiting.cancel()
    await asyncio.wait_for(after, 1)
    assert waiting.cancelled()
