"""One-statement JSON reads on PostgreSQL, straight through asyncpg.

The compiled read path (schema.compiled) turns a whole GraphQL query into one statement whose
single value is the response's JSON text. Such a statement needs neither the ORM nor a
transaction, so it skips SQLAlchemy's session and pool (and their per-checkout ping).

It skips asyncpg's Pool too: measured on the smallest query, the Pool's release alone (a task
per release for its shield, plus a reset round trip) cost a third as much as running the
statement. These connections only ever run one read-only SELECT at a time outside any
transaction, which leaves no session state to reset - so a LIFO queue of connection slots is
all the pool they need. A connection that fails, or whose query is cancelled midway, is
dropped and its slot reopened by the next reader.

Behind PgBouncer in transaction pooling mode (DB_PGBOUNCER) each statement is its own
transaction, run on whichever server connection PgBouncer picks: ``statement_cache=False``
turns asyncpg's statement cache off, and asyncpg then runs each statement unnamed, parsed again
in the very exchange that executes it (see app.db.engine.driver_arguments).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
from sqlalchemy.engine import make_url

from app.observability import metrics

#: How these connections show in pg_stat_activity.
APPLICATION_NAME = "contentgraph-json-reads"
waiting = metrics.db_waiting.labels(pool="compiled")
add_in_use = metrics.adder(metrics.db_in_use.labels(pool="compiled"))


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


class JsonReads:
    def __init__(
        self, sqlalchemy_url: str, pool_size: int, *, statement_cache: bool = True
    ) -> None:
        self._dsn = asyncpg_dsn(sqlalchemy_url)
        self._size = pool_size
        #: asyncpg's default, 100 statements per connection; 0 turns its cache off.
        self._statement_cache_size = 100 if statement_cache else 0
        self._slots: asyncio.LifoQueue[asyncpg.Connection | None] | None = None

    def _queue(self) -> asyncio.LifoQueue[asyncpg.Connection | None]:
        if self._slots is None:  # made on first use, inside the running loop
            self._slots = asyncio.LifoQueue()
            for _ in range(self._size):
                self._slots.put_nowait(None)  # a slot whose connection is not open yet
        return self._slots

    async def fetch_text(self, sql: str, params: Sequence[object]) -> str:
        slots = self._queue()
        if slots.empty():  # counted only when there is a wait: two gauge writes saved per read
            waiting.inc()
            try:
                connection = await slots.get()
            finally:
                waiting.dec()
        else:
            connection = slots.get_nowait()
        add_in_use(1)
        try:
            if connection is None or connection.is_closed():
                connection = await asyncpg.connect(
                    self._dsn,
                    statement_cache_size=self._statement_cache_size,
                    server_settings={"application_name": APPLICATION_NAME},
                )
            value: str = await connection.fetchval(sql, *params)
        except asyncpg.PostgresError:
            slots.put_nowait(connection)  # the statement failed; the connection is fine
            raise
        except BaseException:
            if connection is not None:
                connection.terminate()  # broken, or cancelled mid-query: state unknown
            slots.put_nowait(None)
            raise
        finally:
            add_in_use(-1)
        slots.put_nowait(connection)
        return value

    async def close(self) -> None:
        if self._slots is None:
            return
        while not self._slots.empty():
            connection = self._slots.get_nowait()
            if connection is not None:
                await connection.close()
        self._slots = None
