"""DB_PGBOUNCER: the server works through a real PgBouncer in transaction pooling mode.

Transaction pooling hands each transaction of a client connection to whichever server
connection is free. A named prepared statement made in one transaction is then missing in
the next (or its name is already taken there by another process's), and asyncpg and
SQLAlchemy both cache named statements by default. Each test here runs against a PgBouncer
with two server connections, so consecutive transactions do land on different servers; the
control shows that this set-up catches the hazard when the caches are on.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from app.config import Settings
from app.db.engine import driver_arguments
from app.db.json_reads import JsonReads
from app.db.migrate import upgrade
from app.server import create_app
from tests import images
from tests.backends import (
    create_postgres_database,
    drop_postgres_database,
    drop_redis_keys,
    postgres_settings,
    require_redis,
)
from tests.conftest import PASSWORD, client_address, run_cli, user_token
from tests.pgbouncer import DisposablePgBouncer, running_pgbouncer
from tests.processes import free_port, kill_group, server_env, wait_healthy
from tests.uploads import upload

CONTACTS = "{ contacts(first: 20, orderBy: NAME_ASC) { totalCount nodes { id name } } }"
#: viewerCanEdit is not declared for the compiled path: the resolvers answer this one.
CONTACTS_BY_RESOLVERS = "{ contacts(first: 20) { nodes { name viewerCanEdit } } }"
CREATE = "mutation($name: String!) { createContact(input: {name: $name}) { contact { id } } }"
RENAME = """mutation($id: ID!, $name: String!) {
  updateContact(input: {id: $id, name: $name}) { contact { name } userErrors { message } }
}"""
SET_AVATAR = """mutation($contactId: ID!, $file: Upload!) {
  setContactAvatar(input: {contactId: $contactId, file: $file}) {
    contact { avatar { width } } userErrors { message }
  }
}"""


@pytest.fixture(scope="module")
async def database() -> AsyncIterator[str]:
    """A database of this module's, by its direct URL (the name is what PgBouncer needs)."""
    url = await create_postgres_database()
    yield url
    await drop_postgres_database(url)


@pytest.fixture(scope="module")
def bouncer(database: str) -> Iterator[DisposablePgBouncer]:
    with running_pgbouncer(pool_size=2) as running:
        yield running


@pytest.fixture(scope="module")
async def bounced_settings(
    database: str, bouncer: DisposablePgBouncer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    settings = postgres_settings(
        bouncer.url(database.rpartition("/")[2]),
        tmp_path_factory.mktemp("pgbouncer"),
        db_pgbouncer=True,
        db_pool_size=4,
    )
    await require_redis(settings)
    await upgrade(settings)  # Alembic, through PgBouncer too
    yield settings
    await drop_redis_keys(settings)


@pytest.fixture(scope="module")
async def bounced_app(bounced_settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(bounced_settings)
    yield application
    await application.state.services.close()


async def _holding_all_but(
    url: str, servers: int, free: int, action: Callable[[], Awaitable[Any]]
) -> Any:
    """Run ``action`` on one chosen server connection of PgBouncer's: every server but the
    ``free``-th (by backend pid) is held in an open transaction meanwhile, so PgBouncer can
    only give the action that one."""
    holders = [await asyncpg.connect(url, statement_cache_size=0) for _ in range(servers)]
    try:
        transactions = [holder.transaction() for holder in holders]
        pids = []
        for holder, transaction in zip(holders, transactions, strict=True):
            await transaction.start()
            pids.append(int(await holder.fetchval("SELECT pg_backend_pid()")))
        assert len(set(pids)) == servers, pids  # one server connection each
        await transactions[pids.index(sorted(pids)[free])].rollback()
        return await action()
    finally:
        await _release(holders)


async def named_statements(url: str, servers: int) -> dict[int, list[str]]:
    """The named prepared statements on each of PgBouncer's server connections, by pid."""
    holders = [await asyncpg.connect(url, statement_cache_size=0) for _ in range(servers)]
    try:
        found: dict[int, list[str]] = {}
        for holder in holders:  # all in open transactions at once: on different servers
            await holder.execute("BEGIN")
            pid = int(await holder.fetchval("SELECT pg_backend_pid()"))
            names = await holder.fetch("SELECT name FROM pg_prepared_statements ORDER BY name")
            found[pid] = [row["name"] for row in names]
        assert len(found) == servers
        return found
    finally:
        await _release(holders)


async def _release(holders: list[asyncpg.Connection]) -> None:
    """Roll back and close: a client that vanishes mid-transaction costs PgBouncer that
    server connection (and whatever it held, which a later look must still see)."""
    for holder in holders:
        if holder.is_in_transaction():
            await holder.execute("ROLLBACK")
        await holder.close()


@pytest.mark.parametrize("statement_cache", [True, False])
async def test_a_statement_run_on_each_server_needs_the_cache_off(
    database: str, statement_cache: bool
) -> None:
    """The control: a cached (named) statement, prepared on one server connection, is
    missing on the other; with the cache off (as DB_PGBOUNCER has it) each run parses its
    statement again in the exchange that executes it, on whichever server that is."""
    with running_pgbouncer(pool_size=2) as own:
        url = own.url(database.rpartition("/")[2])
        reads = JsonReads(url, 1, statement_cache=statement_cache)
        try:
            first = await _holding_all_but(
                url, 2, 0, lambda: reads.fetch_text("SELECT $1::text", ["one"])
            )
            assert first == "one"
            second = _holding_all_but(
                url, 2, 1, lambda: reads.fetch_text("SELECT $1::text", ["two"])
            )
            if statement_cache:
                with pytest.raises(asyncpg.InvalidSQLStatementNameError, match="does not exist"):
                    await second
                assert any((await named_statements(url, 2)).values())
            else:
                assert await second == "two"
                left = await named_statements(url, 2)
                assert not any(left.values()), left
        finally:
            await reads.close()


async def test_the_setting_reaches_both_drivers(bounced_app: Starlette) -> None:
    assert driver_arguments(bounced_app.state.settings) == {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
    }
    without = bounced_app.state.settings.model_copy(update={"db_pgbouncer": False})
    assert driver_arguments(without) == {}
    db = bounced_app.state.db
    for engine in (db.engine, db.background_engine):
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            adapted: Any = raw.dbapi_connection
            assert adapted._prepared_statement_cache is None  # SQLAlchemy's
            driver: Any = raw.driver_connection
            assert driver._stmt_cache.get_max_size() == 0  # asyncpg's


async def test_reads_writes_and_uploads_through_transaction_pooling(
    bounced_app: Starlette, bouncer: DisposablePgBouncer, bounced_settings: Settings
) -> None:
    """Many operations at once over two server connections: mutations (with their outbox,
    advisory locks and event relay), an upload, reads by the compiled path and by the
    resolvers. Nothing fails, and no named statement is left on either server."""
    token = await user_token(bounced_app, "admin", "admin")
    compiled = bounced_app.state.graphql.compiled
    assert compiled is not None
    transport = httpx.ASGITransport(app=bounced_app, client=(client_address(), 40000))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    ) as http:

        async def post(query: str, **variables: Any) -> dict[str, Any]:
            response = await http.post("/graphql", json={"query": query, "variables": variables})
            body: dict[str, Any] = response.json()
            assert "errors" not in body, body
            data: dict[str, Any] = body["data"]
            return data

        created = await asyncio.gather(*(post(CREATE, name=f"c{i:02}") for i in range(12)))
        ids = [data["createContact"]["contact"]["id"] for data in created]
        before = (compiled.answered, compiled.failed)
        for _ in range(3):
            results = await asyncio.gather(
                *(post(CONTACTS) for _ in range(6)),
                *(post(CONTACTS_BY_RESOLVERS) for _ in range(4)),
                *(post(RENAME, id=ids[i], name=f"r{i:02}") for i in range(4)),
            )
            assert all(r["contacts"]["totalCount"] == 12 for r in results[:6])
            assert all(len(r["contacts"]["nodes"]) == 12 for r in results[6:10])
        assert compiled.answered == before[0] + 18
        assert compiled.failed == before[1]

        response = await upload(
            http,
            SET_AVATAR,
            {"contactId": ids[0], "file": None},
            {"0": ("a.png", images.png(8, 6), "image/png")},
            {"0": ["variables.file"]},
        )
        assert response.json()["data"]["setContactAvatar"] == {
            "contact": {"avatar": {"width": 8}},
            "userErrors": [],
        }
        names = [n["name"] for n in (await post(CONTACTS))["contacts"]["nodes"]]
        assert names == [f"c{i:02}" for i in range(4, 12)] + [f"r{i:02}" for i in range(4)]

    url = bounced_settings.database_url.replace("postgresql+asyncpg", "postgresql")
    left = await named_statements(url, bouncer.pool_size)
    assert not any(left.values()), left


@pytest.fixture
async def fresh_database() -> AsyncIterator[str]:
    """A database no one has migrated yet (the CLI test migrates it through PgBouncer)."""
    url = await create_postgres_database()
    yield url
    await drop_postgres_database(url)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"cgtest-{uuid.uuid4().hex[:12]}"
    yield prefix
    await drop_redis_keys(Settings.model_construct(redis_prefix=prefix))


def test_serve_with_workers_through_pgbouncer(
    fresh_database: str, redis_prefix: str, bouncer: DisposablePgBouncer, tmp_path: Path
) -> None:
    """The real thing: `migrate`, `createuser` and `serve --workers 2` through PgBouncer, each
    process numbering its statements from 1 (asyncpg's ids are per process). The pools may be
    larger than PostgreSQL allows: they are PgBouncer's clients, and serve only says so."""
    port = free_port()
    env = server_env(
        tmp_path,
        bouncer.url(fresh_database.rpartition("/")[2]),
        redis_prefix,
        DB_PGBOUNCER="true",
        DB_POOL_SIZE="200",  # 2 x 602 connections: far above max_connections
        LOG_LEVEL="INFO",
    )
    migrated = run_cli(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    created = run_cli(env, "createuser", "ops", "--admin", "--password-stdin", stdin=PASSWORD)
    assert created.returncode == 0, created.stderr
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(server, base)
        assert httpx.get(f"{base}/readyz").status_code == 200
        login = httpx.post(
            f"{base}/graphql",
            json={
                "query": "mutation($p: String!) "
                '{ login(input: {username: "ops", password: $p}) { token } }',
                "variables": {"p": PASSWORD},
            },
        ).json()
        headers = {"Authorization": f"Bearer {login['data']['login']['token']}"}
        with httpx.Client(base_url=base, headers=headers) as http:
            for i in range(12):
                body = http.post(
                    "/graphql", json={"query": CREATE, "variables": {"name": f"w{i:02}"}}
                ).json()
                assert "errors" not in body, body
                for query in (CONTACTS, CONTACTS_BY_RESOLVERS):
                    # A new connection each time: both workers answer some.
                    body = http.post(
                        "/graphql", json={"query": query}, headers={"Connection": "close"}
                    ).json()
                    assert "errors" not in body, body
                    assert len(body["data"]["contacts"]["nodes"]) == i + 1
    finally:
        kill_group(server)
    text = log.read_text()
    assert "DB_PGBOUNCER: 2 workers x 602 = 1204 connections to PgBouncer" in text, text
    assert "Traceback" not in text, text
