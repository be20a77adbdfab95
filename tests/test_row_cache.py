"""The row cache behind the loaders: hits skip SQL, writes invalidate, races cannot go stale."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from starlette.applications import Starlette

from app.db import codec
from app.db.models import Contact
from app.kv.breaker import Breaker
from app.kv.cache import PROBE_INTERVAL, RedisRowCache
from app.services import contacts
from schema.ids import to_global_id
from schema.loaders import Loaders
from tests.conftest import PASSWORD, GraphQLClient, StatementCounter, run_cli, serve

READ = "query($id: ID!) { contact(id: $id) { name } }"


async def test_a_second_read_is_served_from_the_cache(
    app: Starlette, gql: GraphQLClient, sql_counter: StatementCounter
) -> None:
    created = await gql.data(
        'mutation { createContact(input: {name: "Cached"}) { contact { id } } }'
    )
    contact_id = created["createContact"]["contact"]["id"]
    await gql.data(READ, id=contact_id)
    sql_counter.reset()
    assert (await gql.data(READ, id=contact_id))["contact"]["name"] == "Cached"
    assert not [s for s in sql_counter.statements if "FROM contact" in s], sql_counter.statements


async def test_a_reader_racing_a_writer_cannot_store_a_stale_row(
    app: Starlette, gql: GraphQLClient
) -> None:
    """The reader notes the version, reads the old row, the writer commits and invalidates,
    and only then does the reader store what it read: it must never be served."""
    created = await gql.data('mutation { createContact(input: {name: "Old"}) { contact { id } } }')
    global_id = created["createContact"]["contact"]["id"]
    cache, db = app.state.services.cache, app.state.db
    async with db.session() as session:
        key = (await session.scalars(select(Contact.id))).one()
    read = await cache.lookup("contact", [key.hex])  # 1. reader: miss, notes version
    assert key.hex in read.misses
    async with db.session() as session:  # 2. reader: reads the old row
        old_row = await session.get(Contact, key)
    async with db.session() as session:  # 3. writer: commits and invalidates
        await contacts.update_contact(session, key, {"name": "New"})
    await cache.store("contact", read, [(key.hex, codec.encode(Contact, old_row))])  # 4.
    assert (await gql.data(READ, id=global_id))["contact"]["name"] == "New"
    assert (await gql.data(READ, id=global_id))["contact"]["name"] == "New"


async def test_an_unreachable_redis_falls_back_to_sql_and_logs_once(
    app: Starlette, gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    created = await gql.data(
        'mutation { createContact(input: {name: "Fallback"}) { contact { id } } }'
    )
    key = uuid.UUID(
        __import__("base64")
        .b64decode(created["createContact"]["contact"]["id"])
        .decode()
        .split(":")[1]
    )
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    cache = RedisRowCache(dead, "cgtest-dead", ttl=60, breaker=Breaker(0.5, dead.ping))
    caplog.set_level(logging.WARNING, logger="contentgraph.redis")
    try:
        for _ in range(3):
            loaders = Loaders(app.state.db, cache)
            row = await loaders.contact.load(key)
            assert row is not None and row.name == "Fallback"
    finally:
        await dead.aclose()
    warnings = [r for r in caplog.records if r.name == "contentgraph.redis"]
    assert len(warnings) == 1
    assert "serving from the database" in warnings[0].getMessage()


async def test_invalidation_reaches_other_processes(
    production_env: dict[str, str], production_server: str, tmp_path: Path
) -> None:
    username = f"cache-{uuid.uuid4().hex[:8]}"
    assert (
        run_cli(
            production_env, "createuser", username, "--admin", "--password-stdin", stdin=PASSWORD
        ).returncode
        == 0
    )
    with serve(production_env, tmp_path / "second.log") as second:
        async with httpx.AsyncClient(base_url=production_server) as first_http:
            login = await first_http.post(
                "/graphql",
                json={
                    "query": "mutation($u: String!, $p: String!) { login(input: "
                    "{username: $u, password: $p}) { token } }",
                    "variables": {"u": username, "p": PASSWORD},
                },
            )
            headers = {"Authorization": f"Bearer {login.json()['data']['login']['token']}"}

            async def gql(base: str, query: str, **variables: Any) -> dict[str, Any]:
                async with httpx.AsyncClient(base_url=base, headers=headers) as http:
                    body = (
                        await http.post("/graphql", json={"query": query, "variables": variables})
                    ).json()
                assert "errors" not in body, body
                data: dict[str, Any] = body["data"]
                return data

            created = await gql(
                production_server,
                'mutation { createContact(input: {name: "Before"}) { contact { id } } }',
            )
            contact_id = created["createContact"]["contact"]["id"]
            assert (await gql(second, READ, id=contact_id))["contact"][
                "name"
            ] == "Before"  # cached on B
            await gql(
                production_server,
                "mutation($id: ID!) { updateContact(input: {id: $id, "
                'name: "After"}) { contact { id } } }',
                id=contact_id,
            )
            assert (await gql(second, READ, id=contact_id))["contact"]["name"] == "After"


def test_codec_round_trips_every_model_column() -> None:
    from datetime import UTC, datetime

    contact = Contact(
        id=uuid.uuid4(),
        name="Ada",
        email="ada@example.com",
        phone=None,
        notes="n",
        avatar_id=uuid.uuid4(),
        created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
    )
    back = codec.decode(Contact, codec.encode(Contact, contact))
    for column in Contact.__table__.columns:
        assert getattr(back, column.key) == getattr(contact, column.key)
    assert to_global_id("Contact", back.id) == to_global_id("Contact", contact.id)


@pytest.fixture
async def uncached_app(backend_settings: Any) -> Any:
    from app.server import create_app

    application = create_app(backend_settings.model_copy(update={"cache_ttl_seconds": 0}))
    yield application
    await application.state.services.close()


async def test_with_the_cache_off_every_relation_still_loads(
    app: Starlette, uncached_app: Starlette
) -> None:
    from tests.conftest import user_token
    from tests.factories import album_with_photos, contact_with_avatar

    await contact_with_avatar(app, "Uncached")
    await album_with_photos(app, "Uncached album", 2)
    token = await user_token(uncached_app, "nocache", "viewer")
    transport = httpx.ASGITransport(app=uncached_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        gql = GraphQLClient(http, token)
        data = await gql.data(
            "{ contacts { nodes { avatar { filename } } } "
            "albums { nodes { photos { nodes { file { filename } album { title } } } } } }"
        )
    assert data["contacts"]["nodes"] == [{"avatar": {"filename": "Uncached.png"}}]
    photos = data["albums"]["nodes"][0]["photos"]["nodes"]
    assert [p["file"]["filename"] for p in photos] == [
        "Uncached album-0.jpg",
        "Uncached album-1.jpg",
    ]


async def test_a_burst_beyond_the_redis_pool_waits_instead_of_failing(
    production_env: dict[str, str], production_server: str
) -> None:
    """redis-py's default pool raised "Too many connections" past 100 concurrent commands:
    150 simultaneous signed-in requests (each checks its session in Redis) must all succeed."""
    import asyncio

    username = f"burst-{uuid.uuid4().hex[:8]}"
    assert (
        run_cli(
            production_env, "createuser", username, "--password-stdin", stdin=PASSWORD
        ).returncode
        == 0
    )
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(base_url=production_server, limits=limits, timeout=60) as http:
        login = await http.post(
            "/graphql",
            json={
                "query": "mutation($u: String!, $p: String!) "
                "{ login(input: {username: $u, password: $p}) { token } }",
                "variables": {"u": username, "p": PASSWORD},
            },
        )
        headers = {"Authorization": f"Bearer {login.json()['data']['login']['token']}"}
        responses = await asyncio.gather(
            *(
                http.post("/graphql", headers=headers, json={"query": "{ me { username } }"})
                for _ in range(150)
            )
        )
    assert [r.status_code for r in responses] == [200] * 150
    assert all(r.json()["data"]["me"]["username"] == username for r in responses)


async def test_the_stale_generation_probe_stops_once_another_call_replaced_it(
    redis: Redis,
) -> None:
    """Redis came back and a lookup replaced the stale generation while the probe slept: the
    probe used to send the now-empty generation (None) to Redis, which opened the breaker."""
    breaker = Breaker(0.5, redis.ping)
    cache = RedisRowCache(redis, f"cgtest-{uuid.uuid4().hex[:8]}", ttl=60, breaker=breaker)
    cache.generation = "old"
    cache._missed_invalidation()  # as if an invalidation had not reached Redis
    await asyncio.sleep(PROBE_INTERVAL / 2)  # the probe sleeps...
    cache._seen("new")  # ...while a lookup sees the generation replaced
    await asyncio.sleep(PROBE_INTERVAL * 3)
    assert cache._probe is not None and cache._probe.done()
    assert cache._probe.exception() is None
    assert not breaker.is_open and breaker.trips == 0
    await cache.close()
