"""One-statement JSON reads on PostgreSQL, straight through asyncpg.

The compiled read path (schema.compiled) turns a whole GraphQL query into one statement whose
single value is the response's JSON text. Such a statement needs neither the ORM nor a
transaction, so it skips SQLAlchemy's session and pool (and their per-checkout ping) and runs
on a small asyncpg pool of its own, with asyncpg's prepared-statement cache.
"""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy.engine import make_url


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """asyncpg resets every released connection (unlock, CLOSE ALL, UNLISTEN, RESET ALL: a
    round trip per read). These connections only ever run single read-only SELECTs outside
    transactions, which leave no session state behind, so there is nothing to reset."""


class JsonReads:
    def __init__(self, sqlalchemy_url: str, pool_size: int) -> None:
        self._dsn = asyncpg_dsn(sqlalchemy_url)
        self._size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _ready(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn, min_size=1, max_size=self._size, reset=_keep_session
                    )
        return self._pool

    async def fetch_text(self, sql: str, params: list[object]) -> str:
        pool = await self._ready()
        value: str = await pool.fetchval(sql, *params)
        return value

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
