"""Redis is a cache and a bus, not a single point of failure.

Two real server processes on PostgreSQL and a redis-server of the test's own, which the test
kills, hangs (SIGSTOP) and restores from an older snapshot - with a reader hammering the
servers meanwhile. Signed-in reads and writes keep working from PostgreSQL; a hung Redis costs
a request at most REDIS_TIMEOUT_SECONDS once, not seconds each; a revocation survives a
restore; and no cached row older than a committed write is ever served.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, run_cli, serve
from tests.redis_server import DisposableRedis

TIMEOUT = 0.3  # REDIS_TIMEOUT_SECONDS of these servers
#: What a request may take while Redis misbehaves: a hang detector, not a speed test (a request
#: waited 10-20 s on a hung Redis before the breaker).
PATIENCE = 3.0
LOGIN = (
    "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { token } }"
)
NODE = "query($id: ID!) { node(id: $id) { ... on Contact { name } } }"  # resolvers + row cache
RENAME = (
    "mutation($id: ID!, $n: String!) { updateContact(input: {id: $id, name: $n}) "
    "{ contact { name } } }"
)


class Servers:
    def __init__(self, bases: list[str], env: dict[str, str], redis: DisposableRedis) -> None:
        self.bases, self.env, self.redis = bases, env, redis
        self.username = f"redis-{uuid.uuid4().hex[:8]}"
        self.suffix = uuid.uuid4().hex[:6]
        created = run_cli(
            env, "createuser", self.username, "--admin", "--password-stdin", stdin=PASSWORD
        )
        assert created.returncode == 0, created.stderr

    async def call(
        self, query: str, token: str | None = None, server: int = 0, **variables: Any
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=self.bases[server], timeout=30) as http:
            response = await http.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
        took = time.monotonic() - started
        assert took < PATIENCE, f"{query[:40]} took {took:.1f} s"
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(
        self, query: str, token: str | None = None, server: int = 0, **variables: Any
    ) -> Any:
        body = await self.call(query, token, server, **variables)
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def login(self, server: int = 0) -> str:
        return await self.login_as(self.username, server)

    async def login_as(self, username: str, server: int = 0) -> str:
        data = await self.data(LOGIN, u=username, p=PASSWORD, server=server)
        token: str = data["login"]["token"]
        return token

    def user(self, name: str) -> str:
        """A user without roles, made with the CLI."""
        username = f"{name}-{self.suffix}"
        created = run_cli(self.env, "createuser", username, "--password-stdin", stdin=PASSWORD)
        assert created.returncode == 0, created.stderr
        return username

    async def user_id(self, token: str, username: str) -> str:
        data = await self.data(
            "query($s: String!) { users(first: 1, filter: {search: $s}) { nodes { id } } }",
            token,
            s=username,
        )
        found: str = data["users"]["nodes"][0]["id"]
        return found

    async def contact(self, token: str, name: str) -> str:
        data = await self.data(
            "mutation($n: String!) { createContact(input: {name: $n}) { contact { id } } }",
            token,
            n=name,
        )
        contact: str = data["createContact"]["contact"]["id"]
        return contact

    async def name(self, token: str, contact: str, server: int = 0) -> str:
        data = await self.data(NODE, token, server, id=contact)
        name: str = data["node"]["name"]
        return name


@pytest.fixture
def servers(
    production_env: dict[str, str], disposable_redis: DisposableRedis, tmp_path: Path
) -> Iterator[Servers]:
    env = {
        **production_env,
        "REDIS_URL": disposable_redis.url,
        "REDIS_PREFIX": f"cgfail-{uuid.uuid4().hex[:8]}",
        "REDIS_TIMEOUT_SECONDS": str(TIMEOUT),
        "FILES_ROOT": str(tmp_path / "files"),
    }
    with contextlib.ExitStack() as stack:
        bases = [stack.enter_context(serve(env, tmp_path / f"server-{n}.log")) for n in (0, 1)]
        yield Servers(bases, env, disposable_redis)


@contextlib.asynccontextmanager
async def traffic(servers: Servers, token: str, contact: str) -> AsyncIterator[list[str]]:
    """Signed-in reads against both servers all along; every answer must be a success."""
    failures: list[str] = []
    stop = asyncio.Event()

    async def read(server: int) -> None:
        while not stop.is_set():
            try:
                body = await servers.call(NODE, token, server, id=contact)
                if "errors" in body:
                    failures.append(str(body["errors"]))
            except AssertionError as error:
                failures.append(str(error))
            await asyncio.sleep(0.02)

    readers = [asyncio.create_task(read(n)) for n in (0, 1)]
    try:
        yield failures
    finally:
        stop.set()
        await asyncio.gather(*readers)


async def test_with_redis_down_signed_in_reads_writes_and_logins_work(servers: Servers) -> None:
    token = await servers.login()
    contact = await servers.contact(token, "Before")
    async with traffic(servers, token, contact) as failures:
        servers.redis.stop()
        await asyncio.sleep(0.5)
        assert await servers.name(token, contact) == "Before"
        renamed = await servers.data(RENAME, token, id=contact, n="During")
        assert renamed["updateContact"]["contact"]["name"] == "During"
        assert await servers.name(token, contact, server=1) == "During"
        other = await servers.login(server=1)  # attempts counted in process meanwhile
        assert await servers.name(other, contact) == "During"
        servers.redis.start()
        await asyncio.sleep(1.5)  # the breakers' probes find it again
        assert await servers.name(token, contact, server=1) == "During"
    assert failures == []


async def test_a_hung_redis_costs_a_request_milliseconds_not_seconds(servers: Servers) -> None:
    token = await servers.login()
    contact = await servers.contact(token, "Before")
    await servers.name(token, contact)  # cached
    async with traffic(servers, token, contact) as failures:
        servers.redis.hang()
        try:
            started = time.monotonic()
            renamed = await servers.data(RENAME, token, id=contact, n="Hung")
            assert renamed["updateContact"]["contact"]["name"] == "Hung"
            for server in (0, 1, 0, 1):
                assert await servers.name(token, contact, server) == "Hung"
            # One call per process waited for the deadline; the others none.
            assert time.monotonic() - started < 5 * TIMEOUT + 1.0
        finally:
            servers.redis.resume()
        await asyncio.sleep(0.5)
        # The write Redis never heard of: no process may serve the row from before it.
        for server in (0, 1):
            assert await servers.name(token, contact, server) == "Hung"
    assert failures == []


async def test_a_restore_from_an_old_snapshot_undoes_no_logout_and_serves_nothing_stale(
    servers: Servers,
) -> None:
    admin = await servers.login()
    logged_out = await servers.login_as(servers.user("logout"))
    everywhere_user = servers.user("everywhere")
    everywhere = await servers.login_as(everywhere_user)
    elsewhere = await servers.login_as(everywhere_user, server=1)
    repassworded_user = servers.user("repassworded")
    repassworded = await servers.login_as(repassworded_user)
    contact = await servers.contact(admin, "Old")
    assert await servers.name(admin, contact) == "Old"  # cached under its first version
    snapshot = servers.redis.snapshot()  # the backup an operator will restore, all alive in it

    await servers.data("mutation { logout { revokedSessions } }", logged_out)
    await servers.data("mutation { logoutEverywhere { revokedSessions } }", everywhere, server=1)
    user_id = await servers.user_id(admin, repassworded_user)
    await servers.data(
        "mutation($id: ID!) { setUserPassword(input: {id: $id, password: "
        '"an entirely new passphrase 77"}) { userErrors { code } } }',
        admin,
        id=user_id,
    )
    await servers.data(RENAME, admin, id=contact, n="New")
    assert await servers.name(admin, contact) == "New"  # cached under the next version

    async with traffic(servers, admin, contact) as failures:
        servers.redis.restore(snapshot)
        await asyncio.sleep(1.5)
        for server in (0, 1):
            for revoked in (logged_out, everywhere, elsewhere, repassworded):
                body = await servers.call("{ me { id } }", revoked, server)
                assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
            # The snapshot holds "Old" under the version current in it: never served again.
            assert await servers.name(admin, contact, server) == "New"
    assert failures == []
