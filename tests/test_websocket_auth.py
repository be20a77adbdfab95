"""Websocket clients authenticate in connection_init, on both subscription protocols."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.conftest import PASSWORD, run_cli

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
LEGACY_WS = Subprotocol("graphql-ws")


@pytest.fixture
def live_server(live_stack: tuple[str, dict[str, str]]) -> str:
    """Each test here runs against the embedded and the production stack."""
    return live_stack[0]


@pytest.fixture
def ws_user(live_stack: tuple[str, dict[str, str]]) -> tuple[str, str]:
    """A user created with the CLI against the live server's database, and its token."""
    live_server, live_env = live_stack
    username = f"ws-{uuid.uuid4().hex[:8]}"
    result = run_cli(live_env, "createuser", username, "--password-stdin", stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    response = httpx.post(
        f"{live_server}/graphql",
        json={
            "query": "mutation($u: String!, $p: String!) "
            "{ login(input: {username: $u, password: $p}) { token } }",
            "variables": {"u": username, "p": PASSWORD},
        },
    )
    return username, response.json()["data"]["login"]["token"]


def ws_url(live_server: str) -> str:
    return live_server.replace("http://", "ws://") + "/graphql"


async def receive(socket: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await socket.recv())
    return message


async def test_connection_init_token_signs_in_graphql_transport_ws(
    live_server: str, ws_user: tuple[str, str]
) -> None:
    username, token = ws_user
    async with websockets.connect(ws_url(live_server), subprotocols=[TRANSPORT_WS]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        assert (await receive(socket))["type"] == "connection_ack"
        await socket.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": "{ me { username } }"}}
            )
        )
        message = await receive(socket)
        assert message == {
            "id": "1",
            "type": "next",
            "payload": {"data": {"me": {"username": username}}},
        }
        assert (await receive(socket)) == {"id": "1", "type": "complete"}


async def test_bearer_form_is_accepted_in_connection_init(
    live_server: str, ws_user: tuple[str, str]
) -> None:
    username, token = ws_user
    async with websockets.connect(ws_url(live_server), subprotocols=[TRANSPORT_WS]) as socket:
        payload = {"Authorization": f"Bearer {token}"}
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert (await receive(socket))["type"] == "connection_ack"
        await socket.send(
            json.dumps(
                {"id": "a", "type": "subscribe", "payload": {"query": "{ me { username } }"}}
            )
        )
        assert (await receive(socket))["payload"]["data"]["me"]["username"] == username


async def test_a_bad_token_closes_the_connection_with_4403(live_server: str) -> None:
    async with websockets.connect(ws_url(live_server), subprotocols=[TRANSPORT_WS]) as socket:
        await socket.send(
            json.dumps({"type": "connection_init", "payload": {"token": "forged-token"}})
        )
        with pytest.raises(ConnectionClosed) as closed:
            await receive(socket)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_no_token_is_anonymous(live_server: str) -> None:
    async with websockets.connect(ws_url(live_server), subprotocols=[TRANSPORT_WS]) as socket:
        await socket.send(json.dumps({"type": "connection_init"}))
        assert (await receive(socket))["type"] == "connection_ack"
        await socket.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": "{ me { username } }"}}
            )
        )
        assert (await receive(socket))["payload"] == {"data": {"me": None}}


async def test_legacy_graphql_ws_checks_the_token_too(
    live_server: str, ws_user: tuple[str, str]
) -> None:
    """Legacy graphql-ws runs subscriptions only (there are none yet): check the handshake."""
    _, token = ws_user
    async with websockets.connect(ws_url(live_server), subprotocols=[LEGACY_WS]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        assert (await receive(socket))["type"] == "connection_ack"
    async with websockets.connect(ws_url(live_server), subprotocols=[LEGACY_WS]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": {"token": "bad"}}))
        message = await receive(socket)
        assert message["type"] == "connection_error"
        assert "sign in again" in message["payload"]["message"]
        with pytest.raises(ConnectionClosed):
            await receive(socket)
