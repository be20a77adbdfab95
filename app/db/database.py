"""The process's database handle: one engine, one session factory, a readiness probe."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.engine import create_engine, create_session_factory, pool_bounds
from app.db.json_reads import JsonReads
from app.events import Sink, install
from app.events import outbox as _outbox  # noqa: F401 - writes recorded events as sessions commit
from app.observability import metrics
from app.observability.pool import watch_pool


def json_read_slots(settings: Settings) -> int:
    """Connections of the compiled-read queue (opened on first use, so only with the path on)."""
    return settings.db_pool_size


def connection_parts(settings: Settings) -> dict[str, int]:
    """The most PostgreSQL connections one server process opens, by pool, at their fullest:
    the engine's pool and overflow, and the compiled-read queue when compiled reads are on."""
    pool_size, overflow = pool_bounds(settings)
    parts = {"pool": pool_size, "overflow": overflow, "background": settings.background_pool_size}
    if settings.compiled_reads:
        parts["compiled reads"] = json_read_slots(settings)
    return parts


def connections_per_process(settings: Settings) -> int:
    """``serve`` multiplies it by the workers and checks the product against PostgreSQL."""
    return sum(connection_parts(settings).values())


class Database:
    def __init__(self, settings: Settings) -> None:
        self.engine: AsyncEngine = create_engine(settings)
        self.sessions: async_sessionmaker[AsyncSession] = create_session_factory(self.engine)
        #: A small pool of its own for work no request waits for (subscription events, the
        #: event relay): however busy that gets, requests keep their connections.
        self.background_engine: AsyncEngine = create_engine(settings, background=True)
        self.background: async_sessionmaker[AsyncSession] = create_session_factory(
            self.background_engine
        )
        #: Where the events a session records go once it commits (cache, then broker).
        self.on_commit: Sink | None = None
        #: SQL statements sent (transaction control excluded), for /metrics and benchmarks.
        self.statements = 0
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._count)
        watch_pool(self.engine, "requests")
        watch_pool(self.background_engine, "background")
        #: One-statement JSON reads (PostgreSQL only), for the compiled read path.
        self.json_reads: JsonReads | None = (
            JsonReads(
                settings.sqlalchemy_url,
                json_read_slots(settings),
                statement_cache=not settings.db_pgbouncer,
            )
            if self.engine.dialect.name == "postgresql"
            else None
        )

    def _count(self, conn: object, cursor: object, statement: str, *args: object) -> None:
        if (
            not statement.lstrip()[:8]
            .upper()
            .startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOI", "RELEASE", "PRAGMA"))
        ):
            self.statements += 1
            metrics.count_sql_statement(1)

    def fetch_json(self, sql: str, params: list[object]) -> Coroutine[Any, Any, str]:
        """The text of the one value one statement returns (PostgreSQL only). Hands back the
        reader's coroutine rather than awaiting it: one frame fewer on the hottest path."""
        assert self.json_reads is not None, "one-statement JSON reads need PostgreSQL"
        self.statements += 1
        metrics.count_sql_statement(1)
        return self.json_reads.fetch_text(sql, params)

    def session(self) -> AsyncSession:
        return install(self.sessions(), self.on_commit)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self.json_reads is not None:
            await self.json_reads.close()
        await self.engine.dispose()
        await self.background_engine.dispose()
