"""Resolved viewers are reused for a while, and never past a change that revokes them.

In one process the cache clears before the mutation answers; across processes a user or role
change (a logout too) arrives through the broker, well before the TTL would end the entry; and
what no event reports - a session reaching its expiry, an event lost while Redis was away -
ends within the TTL.

In this process the cache runs on a clock the test moves (``clock``): an entry expires when a
test says so, never because the machine was slow. Another process's cache cannot be handed
a clock, so there its TTL is made longer than any wait of the test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete
from starlette.applications import Starlette

from app.auth.sessions import SessionRecord, SessionStore, token_digest
from app.auth.users import Grants
from app.db.models import LoginSession
from tests.conftest import (
    PASSWORD,
    GraphQLClient,
    StatementCounter,
    run_cli,
    serve,
    user_token,
)
from tests.timing import Clock, eventually

COUNT = "{ contacts { totalCount } }"
LOGIN = (
    "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { token } }"
)
#: The second process's TTL, the longest VIEWER_CACHE_SECONDS allows: its entries are
#: refreshed from half of it on, so before that only a broker event can end one.
SECOND_TTL = 60


@pytest.fixture
def clock(app: Starlette, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The viewer cache's clock, standing still until the test moves it."""
    clock = Clock()
    monkeypatch.setattr(app.state.services.auth.viewers, "clock", clock)
    return clock


@pytest.fixture(scope="module")
def second_process(
    production_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Another server on the production server's database and Redis (the broker's path)."""
    env = {**production_env, "VIEWER_CACHE_SECONDS": str(SECOND_TTL)}
    with serve(env, tmp_path_factory.mktemp("second") / "second.log") as base:
        yield base


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


async def _refused_by(base: str, token: str) -> None:
    """Until the server at ``base`` refuses ``token``. Its viewer cache keeps an entry for
    SECOND_TTL / 2 before even re-reading it, so a refusal sooner than that is the event's."""

    async def refused() -> bool:
        return await _code(base, token) is not None

    await eventually(refused, "the other process to refuse the token", within=SECOND_TTL / 3)


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
    app: Starlette, gql: GraphQLClient, clock: Clock
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
    app: Starlette, gql: GraphQLClient, clock: Clock
) -> None:
    token = await user_token(app, "reader", "viewer")
    reader = gql.as_user(token)
    await reader.data(COUNT)  # now cached
    await reader.data("mutation { logout { revokedSessions } }")
    (error,) = (await reader(COUNT))["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_changes_made_through_another_process_reach_its_cache(
    production_env: dict[str, str], production_server: str, second_process: str
) -> None:
    token = await _new_admin_session(production_env, production_server)
    async with httpx.AsyncClient(base_url=production_server) as http:
        headers = {"Authorization": f"Bearer {token}"}
        me = (await http.post("/graphql", json={"query": "{ me { id } }"}, headers=headers)).json()
        assert await _code(second_process, token) is None  # cached by the second process
        await http.post(
            "/graphql",
            json={
                "query": "mutation($id: ID!) { assignRoles(input: {userId: $id, roleIds: []})"
                " { user { id } } }",
                "variables": {"id": me["data"]["me"]["id"]},
            },
            headers=headers,
        )
    await _refused_by(second_process, token)
    assert await _code(second_process, token) == "FORBIDDEN"


async def test_a_session_ended_in_another_process_ends_in_this_one(
    production_env: dict[str, str], production_server: str, second_process: str
) -> None:
    token = await _new_admin_session(production_env, production_server)
    assert await _code(second_process, token) is None  # cached by the second process
    async with httpx.AsyncClient(base_url=production_server) as http:
        await http.post(
            "/graphql",
            json={"query": "mutation { logoutEverywhere { revokedSessions } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
    await _refused_by(second_process, token)
    assert await _code(second_process, token) == "UNAUTHENTICATED"


async def test_what_no_event_reports_ends_within_the_ttl(
    app: Starlette, clock: Clock, sql_counter: StatementCounter
) -> None:
    """A session ended with no event reaching this process (one lost while Redis was away)
    is served from the cache until the TTL, and not past it."""
    auth = app.state.services.auth
    token = await user_token(app, "reader", "viewer")
    auth.viewers.clear()
    assert await auth.viewer(token) is not None  # now cached
    async with app.state.db.session() as session, session.begin():
        await session.execute(delete(LoginSession))  # behind the cache's back: no event
    sql_counter.reset()
    assert await auth.viewer(token) is not None  # the cache cannot know yet
    assert sql_counter.count == 0
    clock.advance(auth.viewers.ttl * 1.01)
    assert await auth.viewer(token) is None


async def test_concurrent_requests_share_one_lookup(
    app: Starlette, clock: Clock, sql_counter: StatementCounter
) -> None:
    """When a cached viewer expires under load, one lookup serves every waiting request - and
    only those: once it has answered, the next expiry needs a lookup of its own."""
    auth = app.state.services.auth
    token = await user_token(app, "reader", "viewer")
    auth.viewers.clear()
    sql_counter.reset()
    viewers = await asyncio.gather(*(auth.viewer(token) for _ in range(20)))
    assert {v.username for v in viewers if v} == {"reader"}
    assert sql_counter.count == 1, sql_counter.statements  # the grants, once
    clock.advance(auth.viewers.ttl * 1.01)  # expired
    viewers = await asyncio.gather(*(auth.viewer(token) for _ in range(20)))
    assert {v.username for v in viewers if v} == {"reader"}
    assert sql_counter.count == 2, sql_counter.statements  # once more


async def test_a_lookup_overtaken_by_a_change_is_not_kept(
    app: Starlette, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lookup that read the session before a change committed must not cache what it read."""
    auth = app.state.services.auth
    token = await user_token(app, "reader", "viewer")
    auth.viewers.clear()
    read, go_on = asyncio.Event(), asyncio.Event()
    sessions: SessionStore = auth.sessions
    find = sessions.find

    async def find_then_wait(
        token: str, *, background: bool = False
    ) -> tuple[SessionRecord, Grants] | None:
        found = await find(token, background=background)
        read.set()
        await go_on.wait()
        return found

    monkeypatch.setattr(sessions, "find", find_then_wait)
    lookup = asyncio.ensure_future(auth.viewer(token))
    await asyncio.wait_for(read.wait(), timeout=10)  # the lookup has read the old state...
    auth.viewers.clear()  # ...and now a change commits (a role change, say)
    go_on.set()
    assert (await lookup) is not None  # the request that made it is answered with it
    found, _, _ = auth.viewers.get(token_digest(token))
    assert not found


async def test_an_entry_past_half_its_life_is_refreshed_in_the_background(
    app: Starlette, clock: Clock, sql_counter: StatementCounter
) -> None:
    """Under steady traffic no request waits for a lookup: the cached viewer answers while a
    refresh runs, and the refreshed entry starts a new life."""
    auth = app.state.services.auth
    ttl = auth.viewers.ttl
    token = await user_token(app, "reader", "viewer")
    digest = token_digest(token)
    auth.viewers.clear()
    await auth.viewer(token)
    clock.advance(ttl * 0.6)
    sql_counter.reset()
    assert (await auth.viewer(token)) is not None
    assert sql_counter.count == 0  # answered from the cache...

    def refreshed() -> bool:
        found, _, due = auth.viewers.get(digest)
        return found and not due

    await eventually(refreshed, "the refresh to replace the entry")  # ...while a lookup runs
    assert sql_counter.count == 1
    clock.advance(ttl * 0.45)  # past the first entry's life, not yet half the new one's
    assert (await auth.viewer(token)) is not None
    assert sql_counter.count == 1


async def test_another_users_login_keeps_this_viewer_cached(
    app: Starlette, gql: GraphQLClient, clock: Clock
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
