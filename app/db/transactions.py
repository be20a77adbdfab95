"""Write transactions that behave under concurrency on both databases."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession

from app.events import publish_pending

#: Execution option read by the SQLite ``begin`` hook in app.db.engine.
SQLITE_BEGIN = "contentgraph_sqlite_begin"


@contextlib.asynccontextmanager
async def writing(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """One transaction that will write.

    SQLite's default BEGIN takes the write lock only at the first write; a transaction that read
    first then finds another writer committed in between and fails at once with "database is
    locked" (no busy wait can help). BEGIN IMMEDIATE takes the lock up front, so concurrent
    writers queue on the busy timeout instead. PostgreSQL ignores the option.
    """
    async with session.begin():
        await session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
        yield session
    await publish_pending(session)
