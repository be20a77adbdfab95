"""No password, password hash or session token reaches a log line or an error message."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from starlette.applications import Starlette

from tests.conftest import GraphQLClient

NEW_PASSWORD = "leaky-bucket-password-31337"
SECOND_PASSWORD = "another-secret-password-4242"
ARGON2_HASH = re.compile(r"\$argon2(id|i|d)\$")


async def test_auth_flows_never_log_secrets(
    app: Starlette, gql: GraphQLClient, anon: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[Any] = []

    async def call(client: GraphQLClient, query: str, **variables: Any) -> dict[str, Any]:
        body = await client(query, **variables)
        bodies.append(body)
        return body

    created = await call(
        gql,
        "mutation($p: String!) { createUser(input: {username: 'drip', password: $p}) "
        "{ user { id } userErrors { message } } }".replace("'", '"'),
        p=NEW_PASSWORD,
    )
    user_id = created["data"]["createUser"]["user"]["id"]
    login = (
        "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) "
        "{ token userErrors { message } } }"
    )
    await call(anon, login, u="drip", p="wrong " + NEW_PASSWORD)
    token = (await call(anon, login, u="drip", p=NEW_PASSWORD))["data"]["login"]["token"]
    await call(anon.as_user(token), "{ me { username } }")
    await call(
        gql,
        "mutation($id: ID!, $p: String!) { setUserPassword(input: {id: $id, password: $p}) "
        "{ userErrors { message } } }",
        id=user_id,
        p=SECOND_PASSWORD,
    )
    await call(
        gql,
        "mutation($id: ID!, $p: String!) { setUserPassword(input: "
        "{id: $id, password: $p}) { userErrors { message } } }",
        id=user_id,
        p="short",
    )
    await call(anon.as_user(token), "mutation { logout { revokedSessions } }")
    await call(anon.as_user(token), "{ me { username } }")  # a revoked token is refused
    await call(anon, login, u="drip", p=token)  # a token sent where a password goes

    secrets = [NEW_PASSWORD, SECOND_PASSWORD, token, "short"]
    logged = caplog.text
    assert logged, "nothing was captured: the test would prove nothing"
    # Error messages, top-level and userErrors (the login payload carries its token by design).
    answered = repr(
        [body.get("errors") for body in bodies]
        + [
            payload.get("userErrors")
            for body in bodies
            for payload in (body.get("data") or {}).values()
            if isinstance(payload, dict)
        ]
    )
    for secret in secrets[:3]:
        assert secret not in logged
        assert secret not in answered
    assert not ARGON2_HASH.search(logged)
    assert not ARGON2_HASH.search(answered)
