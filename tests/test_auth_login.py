"""login, logout, logoutEverywhere, locking, rehashing and rate limiting over GraphQL."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from app.auth.passwords import Passwords
from app.db.models import User
from tests.conftest import PASSWORD, GraphQLClient, user_token

LOGIN = """
mutation($username: String!, $password: String!) {
  login(input: {username: $username, password: $password}) {
    token expiresAt
    user { username scopes roles { name } }
    userErrors { field message code }
  }
}
"""
ME = "{ me { username } }"


async def login(anon: GraphQLClient, username: str, password: str = PASSWORD) -> dict:  # type: ignore[type-arg]
    body = await anon(LOGIN, username=username, password=password)
    return body


async def test_login_returns_a_token_that_signs_requests_in(
    app: Starlette, anon: GraphQLClient
) -> None:
    await user_token(app, "editor1", "editor")
    payload = (await login(anon, "editor1"))["data"]["login"]
    assert payload["userErrors"] == []
    assert payload["user"]["username"] == "editor1"
    assert payload["user"]["roles"] == [{"name": "editor"}]
    assert "contacts.write" in payload["user"]["scopes"]
    assert payload["expiresAt"]
    signed_in = anon.as_user(payload["token"])
    assert await signed_in.data(ME) == {"me": {"username": "editor1"}}
    assert await anon.data(ME) == {"me": None}


async def test_usernames_match_case_insensitively(app: Starlette, anon: GraphQLClient) -> None:
    await user_token(app, "MixedCase", "viewer")
    assert (await login(anon, "mixedcase"))["data"]["login"]["token"]


@pytest.mark.parametrize(("username", "password"), [("ghost", PASSWORD), ("real", "wrong pass!!")])
async def test_wrong_credentials_look_the_same_for_unknown_and_known_users(
    app: Starlette, anon: GraphQLClient, username: str, password: str
) -> None:
    await user_token(app, "real")
    payload = (await login(anon, username, password))["data"]["login"]
    assert payload["token"] is None
    assert payload["userErrors"] == [
        {"field": None, "message": "wrong username or password", "code": "INVALID_CREDENTIALS"}
    ]


async def test_locked_users_cannot_log_in_and_lose_their_sessions(
    app: Starlette, gql: GraphQLClient, anon: GraphQLClient
) -> None:
    token = await user_token(app, "soon-locked", "viewer")
    user = anon.as_user(token)
    assert (await user.data(ME))["me"]["username"] == "soon-locked"
    user_id = await _user_id(app, "soon-locked")
    locked = await gql.data(
        "mutation($id: ID!) { setUserLocked(input: {id: $id, locked: true}) "
        "{ user { isLocked } userErrors { code } } }",
        id=user_id,
    )
    assert locked["setUserLocked"] == {"user": {"isLocked": True}, "userErrors": []}
    body = await user(ME)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    payload = (await login(anon, "soon-locked"))["data"]["login"]
    assert payload["userErrors"][0]["code"] == "ACCOUNT_LOCKED"


async def _user_id(app: Starlette, username: str) -> str:
    from schema.ids import to_global_id

    async with app.state.db.session() as session:
        key = await session.scalar(select(User.id).where(User.username == username))
    return to_global_id("User", key)


async def test_logout_revokes_only_this_session(app: Starlette, anon: GraphQLClient) -> None:
    await user_token(app, "twice", "viewer")
    first = (await login(anon, "twice"))["data"]["login"]["token"]
    second = (await login(anon, "twice"))["data"]["login"]["token"]
    out = await anon.as_user(first).data("mutation { logout { revokedSessions } }")
    assert out == {"logout": {"revokedSessions": 1}}
    body = await anon.as_user(first)(ME)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await anon.as_user(second).data(ME))["me"]["username"] == "twice"


async def test_logout_everywhere_revokes_every_session(app: Starlette, anon: GraphQLClient) -> None:
    await user_token(app, "many", "viewer")
    tokens = [(await login(anon, "many"))["data"]["login"]["token"] for _ in range(3)]
    out = await anon.as_user(tokens[0]).data("mutation { logoutEverywhere { revokedSessions } }")
    assert out["logoutEverywhere"]["revokedSessions"] >= 3
    for token in tokens:
        body = await anon.as_user(token)(ME)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_logout_needs_a_session(anon: GraphQLClient) -> None:
    body = await anon("mutation { logout { revokedSessions } }")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_login_rehashes_when_parameters_change(app: Starlette, anon: GraphQLClient) -> None:
    services = app.state.services
    weak = Passwords(time_cost=1, memory_kib=8)
    old_hash = weak.hash(PASSWORD)
    await user_token(app, "rehash-me")
    async with services.db.session() as session, session.begin():
        user = await session.scalar(select(User).where(User.username == "rehash-me"))
        user.password_hash = old_hash
    stronger = Passwords(time_cost=2, memory_kib=16)
    original = services.auth.passwords
    services.auth.passwords = stronger
    try:
        assert (await login(anon, "rehash-me"))["data"]["login"]["token"]
    finally:
        services.auth.passwords = original
    async with services.db.session() as session:
        new_hash = await session.scalar(
            select(User.password_hash).where(User.username == "rehash-me")
        )
    assert new_hash != old_hash
    assert "t=2" in new_hash and "m=16" in new_hash
    assert stronger.verify(new_hash, PASSWORD) == (True, False)


async def test_repeated_failures_are_rate_limited_per_username(
    app: Starlette, anon: GraphQLClient, client: httpx.AsyncClient
) -> None:
    await user_token(app, "target", "viewer")
    await user_token(app, "bystander", "viewer")
    limit = app.state.settings.login_max_failures_per_user
    for _ in range(limit):
        payload = (await login(anon, "target", "not the password"))["data"]["login"]
        assert payload["userErrors"][0]["code"] == "INVALID_CREDENTIALS"

    response = await client.post(
        "/graphql", json={"query": LOGIN, "variables": {"username": "target", "password": PASSWORD}}
    )
    body = response.json()
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    retry_after = error["extensions"]["retryAfter"]
    assert 0 < retry_after <= app.state.settings.login_window_seconds
    assert response.headers["Retry-After"] == str(retry_after)
    assert "try again in" in error["message"]

    # Another user from the same address is not affected.
    assert (await login(anon, "bystander"))["data"]["login"]["token"]


async def test_failures_from_one_address_cannot_lock_the_owner_out(
    app: Starlette, anon: GraphQLClient
) -> None:
    """Six failures for a username from anywhere used to lock its owner out for 15 minutes:
    a lockout switch for anyone. Now the guesser's address is stopped, the owner's is not."""
    await user_token(app, "owner", "viewer")
    for _ in range(app.state.settings.login_max_failures_per_user + 3):
        await login(anon, "owner", "an attacker's guess")
    assert (await login(anon, "owner"))["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    elsewhere = GraphQLClient(await _client_from(app, "10.99.0.1"))
    assert (await login(elsewhere, "owner"))["data"]["login"]["token"]
    await elsewhere.http.aclose()


async def test_a_distributed_guess_meets_the_username_bar(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.settings, "login_max_failures_per_username", 12)
    await user_token(app, "popular", "viewer")
    for n in range(12):  # 3 guesses each from 4 addresses: no address meets its limits
        guesser = GraphQLClient(await _client_from(app, f"10.98.{n // 3}.1"))
        await login(guesser, "popular", "guess")
        await guesser.http.aclose()
    owner = GraphQLClient(await _client_from(app, "10.97.0.1"))
    assert (await login(owner, "popular"))["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    await owner.http.aclose()


async def _client_from(app: Starlette, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_repeated_failures_are_rate_limited_per_address(
    app: Starlette, anon: GraphQLClient
) -> None:
    limit = app.state.settings.login_max_failures_per_address
    for i in range(limit):
        await login(anon, f"nobody-{i}", "guess guess guess")
    await user_token(app, "fresh", "viewer")
    body = await login(anon, "fresh")
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_success_resets_the_username_counter(app: Starlette, anon: GraphQLClient) -> None:
    await user_token(app, "forgetful", "viewer")
    limit = app.state.settings.login_max_failures_per_user
    for _ in range(limit - 1):
        await login(anon, "forgetful", "wrong wrong wrong")
    assert (await login(anon, "forgetful"))["data"]["login"]["token"]
    for _ in range(limit - 1):
        await login(anon, "forgetful", "wrong wrong wrong")
    assert (await login(anon, "forgetful"))["data"]["login"]["token"]
