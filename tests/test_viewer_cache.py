"""Resolved viewers are reused for a second, and never past a change that revokes them.

In one process the cache clears before the mutation answers; across processes a user or role
change arrives through the broker (well before a long TTL would end), and a revoked session,
which has no event, ends within the TTL.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.auth.sessions import token_digest
from tests.conftest import (
    PASSWORD,
    GraphQLClient,
    StatementCounter,
    run_cli,
    serve,
    user_token,
)

COUNT = "{ contacts { totalCount } }"
LOGIN = (
    "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { token } }"
)


async def _code(base: str, token: str, query: str = COUNT) -> str | None:
    """The first error code of the answer, None when it succeeded."""
    async with httpx.AsyncClient(base_url=base) as http:
        body = (
            await http.post(
                "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
            )
        ).json()
    errors: list[dict[str, Any]] = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


async def _until_refused(base: str, token: str, limit: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if await _code(base, token) is not None:
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    raise AssertionError(f"still served after {limit} s")


async def _new_admin_session(env: dict[str, str], base: str) -> str:
    """A token of a fresh administrator, signed in through the server at ``base``."""
    username = f"viewer-{uuid.uuid4().hex[:8]}"
    created = run_cli(env, "createuser", username, "--admin", "--password-stdin", stdin=PASSWORD)
    assert created.returncode == 0, created.stderr
    async with httpx.AsyncClient(base_url=base) as http:
        variables = {"u": username, "p": PASSWORD}
        body = (await http.post("/graphql", json={"query": LOGIN, "variables": variables})).json()
    token: str = body["data"]["login"]["token"]
    return token


async def test_a_role_change_applies_to_the_next_request_in_this_process(
    app: Starlette, gql: GraphQLClient
) -> None:
    token = await user_token(app, "reader", "viewer")
    reader = gql.as_user(token)
    me = await reader.data("{ me { id } contacts { totalCount } }")  # now cached
    await gql.data(
        "mutation($id: ID!) { assignRoles(input: {userId: $id, roleIds: []}) { user { id } } }",
        id=me["me"]["id"],
    )
    (error,) = (await reader(COUNT))["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_logout_applies_to_the_next_request_in_this_process(
    app: Starlette, gql: GraphQLClient
) -> None:
    token = await user_token(app, "reader", "viewer")
    reader = gql.as_user(token)
    await reader.data(COUNT)  # now cached
    await reader.data("mutation { logout { revokedSessions } }")
    (error,) = (await reader(COUNT))["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_changes_made_through_another_process_reach_its_cache(
    production_env: dict[str, str], production_server: str, tmp_path: Path
) -> None:
    token = await _new_admin_session(production_env, production_server)
    # A TTL far longer than the test: only the broker's event can end the cached viewer.
    slow_env = {**production_env, "VIEWER_CACHE_SECONDS": "30"}
    with serve(slow_env, tmp_path / "second.log") as second:
        async with httpx.AsyncClient(base_url=production_server) as http:
            headers = {"Authorization": f"Bearer {token}"}
            me = (
                await http.post("/graphql", json={"query": "{ me { id } }"}, headers=headers)
            ).json()
            assert await _code(second, token) is None  # cached by the second process
            await http.post(
                "/graphql",
                json={
                    "query": "mutation($id: ID!) { assignRoles(input: {userId: $id, roleIds: []})"
                    " { user { id } } }",
                    "variables": {"id": me["data"]["me"]["id"]},
                },
                headers=headers,
            )
        assert await _until_refused(second, token, limit=5) < 2
        assert await _code(second, token) == "FORBIDDEN"


async def test_a_session_ended_in_another_process_ends_within_the_ttl(
    production_env: dict[str, str], production_server: str, tmp_path: Path
) -> None:
    token = await _new_admin_session(production_env, production_server)
    with serve(production_env, tmp_path / "second.log") as second:  # the default 1 s
        async with httpx.AsyncClient(base_url=production_server) as http:
            assert await _code(second, token) is None  # cached by the second process
            await http.post(
                "/graphql",
                json={"query": "mutation { logoutEverywhere { revokedSessions } }"},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert await _until_refused(second, token, limit=5) < 1.5
        assert await _code(second, token) == "UNAUTHENTICATED"


async def test_concurrent_requests_share_one_lookup(
    app: Starlette, sql_counter: StatementCounter
) -> None:
    """When a cached viewer expires under load, one lookup serves every waiting request."""
    auth = app.state.services.auth
    token = await user_token(app, "reader", "viewer")
    auth.viewers.clear()
    sql_counter.reset()
    viewers = await asyncio.gather(*(auth.viewer(token) for _ in range(20)))
    assert {v.username for v in viewers} == {"reader"}
    assert sql_counter.count == 1, sql_counter.statements  # the grants, once
    assert auth.viewers.pending == {}


async def test_a_lookup_overtaken_by_a_change_is_not_kept(app: Starlette) -> None:
    auth = app.state.services.auth
    token = await user_token(app, "reader", "viewer")
    auth.viewers.clear()
    lookup = asyncio.ensure_future(auth.viewer(token))
    await asyncio.sleep(0)  # the lookup has started
    auth.viewers.clear()  # e.g. a role change committed meanwhile
    assert (await lookup) is not None
    found, _, _ = auth.viewers.get(token_digest(token))
    assert not found


async def test_an_entry_past_half_its_life_is_refreshed_in_the_background(
    app: Starlette, monkeypatch: pytest.MonkeyPatch, sql_counter: StatementCounter
) -> None:
    """Under steady traffic no request waits for a lookup: the cached viewer answers while a
    refresh runs, and the refreshed entry starts a new life."""
    auth = app.state.services.auth
    monkeypatch.setattr(auth.viewers, "ttl", 0.4)
    token = await user_token(app, "reader", "viewer")
    auth.viewers.clear()
    await auth.viewer(token)
    await asyncio.sleep(0.25)
    sql_counter.reset()
    assert (await auth.viewer(token)) is not None
    assert sql_counter.count == 0  # answered from the cache...
    (refresh,) = auth.viewers.pending.values()  # ...while the lookup runs
    await refresh
    assert sql_counter.count == 1
    found, _, due = auth.viewers.get(token_digest(token))
    assert found and not due


async def test_another_users_login_keeps_this_viewer_cached(
    app: Starlette, gql: GraphQLClient, sql_counter: StatementCounter
) -> None:
    """A login writes the user's row (last_login_at), and its event must not empty the whole
    cache: only that user's viewers go."""
    auth = app.state.services.auth
    token = await user_token(app, "reader", "viewer")
    await auth.viewer(token)
    await user_token(app, "other", "viewer")
    await gql.data(LOGIN, u="other", p=PASSWORD)  # commits user_changed(other)
    found, _, _ = auth.viewers.get(token_digest(token))
    assert found
    other = (await gql.data("{ users { nodes { id username } } }"))["users"]["nodes"]
    reader_id = next(u["id"] for u in other if u["username"] == "reader")
    await gql.data(
        "mutation($id: ID!) { assignRoles(input: {userId: $id, roleIds: []}) { user { id } } }",
        id=reader_id,
    )
    found, _, _ = auth.viewers.get(token_digest(token))
    assert not found  # the reader's own change does evict it
