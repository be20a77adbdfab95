"""Database pool gauges: connections in use, and callers waiting for one.

In use follows SQLAlchemy's pool events (set from the pool's own count at each checkout and
checkin, so a missed event cannot leave it drifting). SQLAlchemy has no event for a caller
that waits: the pool's ``connect`` - the one way in, which blocks (in its greenlet) until a
connection is free or opened - is wrapped to count the callers inside it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool

from app.observability import metrics


def watch_pool(engine: AsyncEngine, name: str) -> None:
    """Report ``engine``'s pool as ``pool=name``."""
    in_use = metrics.db_in_use.labels(pool=name)
    waiting = metrics.db_waiting.labels(pool=name)
    sync_engine = engine.sync_engine

    def checked_out(pool: Pool, returning: int) -> None:
        count = getattr(pool, "checkedout", None)
        if count is None:  # a pool without a count (SQLite's static/null pools)
            in_use.inc(-returning if returning else 1)
        else:
            in_use.set(max(count() - returning, 0))

    def on_checkout(*args: Any) -> None:
        checked_out(sync_engine.pool, 0)

    def on_checkin(*args: Any) -> None:
        checked_out(sync_engine.pool, 1)  # called before the connection is back in the pool

    event.listen(sync_engine, "checkout", on_checkout)
    event.listen(sync_engine, "checkin", on_checkin)
    _count_waiters(sync_engine.pool, waiting.inc, waiting.dec)


def _count_waiters(pool: Pool, enter: Callable[[], None], leave: Callable[[], None]) -> None:
    connect = pool.connect

    @functools.wraps(connect)
    def counted() -> Any:
        enter()
        try:
            return connect()
        finally:
            leave()

    pool.connect = counted  # type: ignore[method-assign]
