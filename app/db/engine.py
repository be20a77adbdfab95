"""Engine and session factory, with the SQLite settings that make it behave like PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings
from app.db.transactions import SQLITE_BEGIN


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Foreign keys on (SQLite's default is off!), WAL, a busy timeout, and real transactions.

    pysqlite opens transactions lazily and never for SELECT; we take over BEGIN ourselves so a
    read-then-write service sees one consistent snapshot (SQLAlchemy's documented recipe).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def pool_bounds(settings: Settings) -> tuple[int, int]:
    """The PostgreSQL pool's size and overflow: at most their sum connections per process."""
    return settings.db_pool_size, settings.db_pool_size


def driver_arguments(settings: Settings) -> dict[str, Any]:
    """What every asyncpg connection of ours is opened with (PostgreSQL only).

    Behind PgBouncer in transaction pooling mode (DB_PGBOUNCER) consecutive transactions of one
    client connection run on whichever server connection is free, so a named prepared
    statement made in one transaction may be missing in the next, or its name already taken
    by another client's. With both caches off nothing named is made at all:

    - asyncpg (``statement_cache_size=0``) prepares each statement unnamed and parses it again
      in the same Parse/Bind/Execute/Sync exchange that runs it (asyncpg >= 0.29), so nothing
      depends on the server connection the statement was described on;
    - SQLAlchemy's dialect calls ``prepare()`` for every statement, with the name its
      ``prepared_statement_name_func`` gives - by default none, which asyncpg, its cache off,
      also makes unnamed. (A function giving unique names, the usual advice, would make named
      statements that stay on PgBouncer's server connections until they close.) Its own cache
      (``prepared_statement_cache_size``) must be off too: it would reuse an unnamed
      statement that the server has replaced since.

    Every statement then costs a parse, and a round trip to describe it: the price of sharing
    server connections between transactions.
    """
    if not settings.db_pgbouncer:
        return {}
    return {"statement_cache_size": 0, "prepared_statement_cache_size": 0}


def create_engine(settings: Settings, *, background: bool = False) -> AsyncEngine:
    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() == "sqlite":
        # aiosqlite logs every call with its parameters (password hashes included) at DEBUG.
        logging.getLogger("aiosqlite").setLevel(logging.WARNING)
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=settings.db_echo, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        echo=settings.db_echo,
        # Parameters carry password hashes and personal data: keep them out of logs and
        # exception messages, whatever the log level.
        hide_parameters=True,
        pool_size=settings.background_pool_size if background else pool_bounds(settings)[0],
        max_overflow=0 if background else pool_bounds(settings)[1],
        pool_pre_ping=True,
        connect_args=driver_arguments(settings),
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Objects stay usable after commit: resolvers read them after the service returns.
    return async_sessionmaker(engine, expire_on_commit=False)
