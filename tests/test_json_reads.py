"""The compiled path's own connections: they survive a server-side kill and a cancelled read."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest
from sqlalchemy import text
from starlette.applications import Starlette

from app.db.json_reads import APPLICATION_NAME
from tests.conftest import user_token
from tests.factories import contact_with_avatar
from tests.timing import eventually

QUERY = "{ contacts(first: 5) { nodes { name avatar { filename } } } }"


def skip_on_sqlite(app: Starlette) -> None:
    """SQLite answers everything through the resolvers: there is no compiled path to test."""
    if app.state.db.dialect == "sqlite":
        pytest.skip("the compiled path's connections exist on PostgreSQL only")
    assert app.state.db.json_reads is not None


async def _names(client: httpx.AsyncClient, token: str) -> list[str]:
    response = await client.post(
        "/graphql", json={"query": QUERY}, headers={"Authorization": f"Bearer {token}"}
    )
    return [node["name"] for node in response.json()["data"]["contacts"]["nodes"]]


async def test_reads_survive_their_connections_being_killed(
    app: Starlette, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    db = app.state.db
    skip_on_sqlite(app)
    await contact_with_avatar(app, "Ada")
    token = await user_token(app, "admin", "admin")
    compiled = app.state.graphql.compiled
    assert await _names(client, token) == ["Ada"]
    async with db.engine.connect() as connection:
        killed = await connection.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name"
            ),
            {"name": APPLICATION_NAME},
        )
    assert killed >= 1
    before = compiled.answered
    # The next read finds its connection dead. Either asyncpg has already seen the socket
    # close and the slot reconnects at once, or the statement fails, is logged, and the
    # resolvers answer; either way the answers are right and the reads after it compiled.
    for _ in range(3):
        assert await _names(client, token) == ["Ada"]
    # (Seen as the database being unavailable, or - asyncpg confused by the dead socket - as
    # a failure of the read; the resolvers answered it.)
    fell_back = any(
        "database is unavailable" in r.getMessage() or "compiled read failed" in r.getMessage()
        for r in caplog.records
    )
    assert compiled.answered == before + (2 if fell_back else 3)


async def _count(app: Starlette, sql: str, **params: object) -> int:
    """One number from the database, in a transaction of its own: pg_stat_activity is read
    once per transaction, so a poll must not reuse one."""
    async with app.state.db.engine.connect() as connection:
        return int(await connection.scalar(text(sql), params))


async def test_a_read_cancelled_midway_gives_its_slot_back(app: Starlette) -> None:
    skip_on_sqlite(app)
    reads = app.state.db.json_reads
    slow = asyncio.ensure_future(reads.fetch_text("SELECT pg_sleep(10)::text", []))

    async def sleeping() -> bool:
        running = await _count(
            app,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = :name AND query LIKE 'SELECT pg_sleep(10)%'",
            name=APPLICATION_NAME,
        )
        return running == 1

    await eventually(sleeping, "the read to be running in the database")
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow

    # Every slot is back: as many reads as the pool has slots can be under way at once. Each
    # waits for a lock the test holds; all of them must be seen waiting before it lets go.
    size: int = app.state.settings.db_pool_size
    key = random.getrandbits(62)
    async with app.state.db.engine.connect() as holder:
        await holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        admitted = [
            asyncio.ensure_future(
                reads.fetch_text("SELECT pg_advisory_xact_lock_shared($1)::text", [key])
            )
            for _ in range(size)
        ]

        async def all_waiting() -> bool:
            waiting = await _count(
                app,
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND classid = :high AND objid = :low AND objsubid = 1",
                high=key >> 32,
                low=key & 0xFFFFFFFF,
            )
            return waiting == size

        try:
            await eventually(all_waiting, f"{size} reads to be under way at once")
        finally:
            await holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    assert await asyncio.gather(*admitted) == [""] * size
    assert await reads.fetch_text("SELECT 'still here'", []) == "still here"
