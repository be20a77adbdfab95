"""PostgreSQL refusing connections: every request gets a coded answer, none a 500 or a
traceback; /readyz says so, /healthz still answers; and it all recovers by itself."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.backends import POSTGRES_ADMIN_URL, create_postgres_database, drop_postgres_database
from tests.conftest import PASSWORD, _run_async, run_cli, serve

READ = "{ contacts(first: 2) { nodes { name } } me { username } }"
FILTERED = '{ contacts(first: 2, filter: {search: "a"}) { totalCount } }'  # the resolvers
WRITE = 'mutation { createContact(input: {name: "During"}) { contact { id } } }'
LOGIN = (
    "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { token } }"
)


@pytest.fixture
def own_database(production_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """A database of this test's own, so it can be closed to connections."""
    url = _run_async(create_postgres_database())
    env = {
        **production_env,
        "DATABASE_URL": url,
        "REDIS_PREFIX": f"cgdown-{uuid.uuid4().hex[:8]}",
        "VIEWER_CACHE_SECONDS": "0",
        "FILES_ROOT": str(tmp_path / "files"),
    }
    try:
        yield env
    finally:
        _run_async(allow_connections(url, True))
        _run_async(drop_postgres_database(url))


async def allow_connections(url: str, allowed: bool) -> None:
    name = url.rpartition("/")[2]
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
    finally:
        await admin.close()


async def test_a_database_that_refuses_connections_gets_coded_answers_and_recovers(
    own_database: dict[str, str], tmp_path: Path
) -> None:
    env = own_database
    assert run_cli(env, "migrate").returncode == 0
    created = run_cli(env, "createuser", "outage", "--admin", "--password-stdin", stdin=PASSWORD)
    assert created.returncode == 0, created.stderr
    log = tmp_path / "server.log"
    with serve(env, log) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            body = (
                await http.post(
                    "/graphql", json={"query": LOGIN, "variables": {"u": "outage", "p": PASSWORD}}
                )
            ).json()
            http.headers["Authorization"] = f"Bearer {body['data']['login']['token']}"
            assert "errors" not in (await http.post("/graphql", json={"query": READ})).json()

            await allow_connections(env["DATABASE_URL"], False)
            for query in (READ, FILTERED, WRITE):
                for accept in ("application/json", "application/graphql-response+json"):
                    response = await http.post(
                        "/graphql", json={"query": query}, headers={"Accept": accept}
                    )
                    assert response.status_code == 200, response.text
                    codes = {e["extensions"]["code"] for e in response.json()["errors"]}
                    assert codes == {"SERVICE_UNAVAILABLE"}, response.text
            assert (await http.get("/readyz")).status_code == 503
            assert (await http.get("/healthz")).status_code == 200

            await allow_connections(env["DATABASE_URL"], True)
            for _ in range(50):  # pooled connections were dropped: new ones come at once
                if "errors" not in (await http.post("/graphql", json={"query": READ})).json():
                    break
                await asyncio.sleep(0.1)
            assert (await http.post("/graphql", json={"query": WRITE})).json()["data"]
            assert (await http.get("/readyz")).status_code == 200
    output = log.read_text()
    assert "Traceback" not in output, output[-3000:]
