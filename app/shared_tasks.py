"""Work that several waiters share, each behind its own ``asyncio.shield``.

graphql-core cancels a failing field's siblings; shielding keeps one cancelled waiter from
cancelling the work the others wait for. But when every waiter is gone before the work fails,
nobody retrieves its exception and asyncio logs "Task exception was never retrieved" with a
traceback at ERROR - for a client's bad cursor. The failure has already been reported through
the waiter that saw it, so here it is only marked as retrieved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def _observe(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def shared(work: Awaitable[T]) -> asyncio.Future[T]:
    """A future for ``work`` whose failure never goes unretrieved."""
    future = asyncio.ensure_future(work)
    future.add_done_callback(_observe)
    return future


async def uncancelled(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to its end even if the caller is cancelled (its result then goes unused).

    For database work a resolver starts: graphql-core cancels a failing field's siblings, and
    cancelled midway a connection is invalidated, or - while asyncpg is still connecting -
    leaves a future whose error nobody retrieves.
    """
    return await asyncio.shield(shared(work))
