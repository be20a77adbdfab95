"""Time the tests control: a clock they move, and waiting for a condition, not a duration.

A test that sleeps and then asserts assumes how fast the machine is: on a loaded one it fails,
or passes without having seen what it meant to. Expiry is tested by moving a ``Clock`` given
to the code under test; something that happens concurrently is waited for with
``eventually``, whose bound is only how long to wait before calling it a failure.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


class Clock:
    """A clock the test moves, standing still otherwise; it starts at ``start``'s time so
    entries made with the real clock before or after the test stay comparable."""

    def __init__(self, start: Callable[[], float] = time.monotonic) -> None:
        self.now = start()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], what: str, within: float = 10
) -> None:
    """Until ``check()`` (a function or a coroutine function) is true; fail after ``within``
    seconds. How quickly it passes is not asserted: the bound is generous on purpose."""
    deadline = time.monotonic() + within
    while True:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.02)
