"""Websockets keep the limits HTTP has, on both subscription protocols and both stacks.

A server of its own with small budgets: 4 sockets an address (2 of them anonymous), 3
operations a signed-in socket (2 an anonymous one), 64 KiB messages, a 1 s deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests import images
from tests.conftest import serve, signed_in
from tests.uploads import upload

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
LEGACY_WS = Subprotocol("graphql-ws")
PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]
BUDGETS = {
    "WS_MAX_CONNECTIONS_PER_ADDRESS": "4",
    "WS_MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS": "2",
    "WS_MAX_SUBSCRIPTIONS": "3",
    "WS_MAX_ANONYMOUS_SUBSCRIPTIONS": "2",
    "MAX_REQUEST_BYTES": "65536",
    "OPERATION_TIMEOUT_SECONDS": "1",
    "CACHE_TTL_SECONDS": "0",
    "ANONYMOUS_READ": "true",
}
PUBLIC = "subscription { fileChanged(entity: USERS_AVATAR) { kind } }"
#: 100 photos of the event x 100 photos of each one's album: past the 10,000-node limit.
HEAVY = (
    'subscription { albumChanged(id: "QWxidW06MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw")'
    " { photos { album { photos(first: 100) { nodes { album { title } } } } } } }"
)


class Server:
    def __init__(self, base: str, env: dict[str, str], token: str) -> None:
        self.base, self.env, self.token = base, env, token
        self.url = base.replace("http://", "ws://") + "/graphql"


@pytest.fixture(scope="module", params=["embedded", "production"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    base_env = request.getfixturevalue(
        "live_env" if request.param == "embedded" else "production_env"
    )
    workdir = tmp_path_factory.mktemp(f"ws-limits-{request.param}")
    env = {**base_env, **BUDGETS, "FILES_ROOT": str(workdir / "files")}
    if request.param == "embedded":
        env["VAR_DIR"] = str(workdir / "var")
    with serve(env, Path(workdir / "server.log")) as base:
        yield Server(base, env, signed_in(base, env, "--admin")[1])


@contextlib.asynccontextmanager
async def opened(server: Server, protocol: Subprotocol = TRANSPORT_WS) -> AsyncIterator[Any]:
    async with websockets.connect(server.url, subprotocols=[protocol], max_size=None) as socket:
        yield socket


async def init(socket: Any, token: str | None) -> dict[str, Any]:
    await socket.send(
        json.dumps({"type": "connection_init", "payload": {"token": token} if token else {}})
    )
    return await receive(socket)


async def receive(socket: Any, within: float = 5) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), within))
        if message["type"] not in {"ka", "ping", "pong"}:
            return message


async def closed_with(socket: Any) -> tuple[int | None, str]:
    """The close code and reason the server sent (waiting for it)."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.wait_for(socket.recv(), 5)
    received = socket.protocol.close_rcvd
    assert received is not None, "closed without a close frame"
    return received.code, received.reason


def start(protocol: Subprotocol, op: str, query: str, **variables: Any) -> str:
    kind = "subscribe" if protocol == TRANSPORT_WS else "start"
    return json.dumps({"id": op, "type": kind, "payload": {"query": query, "variables": variables}})


# Messages that are not what the protocol says.


@pytest.mark.parametrize(
    "message",
    [
        "{not json",
        "1",
        "[]",
        '{"type": 5}',
        '{"type": "subscribe", "id": "1", "payload": "x"}',
        '{"type": "subscribe", "id": "1", "payload": {"query": 5}}',
        '{"type": "subscribe", "id": "1", "payload": {"query": "{ __typename }", "variables": 3}}',
        '{"type": "subscribe", "payload": {"query": "{ __typename }"}}',
    ],
)
async def test_a_malformed_message_closes_with_4400(server: Server, message: str) -> None:
    """graphql-ws PROTOCOL.md: an invalid message closes the socket with 4400 - a close frame,
    not a dropped connection."""
    async with opened(server) as socket:
        assert (await init(socket, server.token))["type"] == "connection_ack"
        await socket.send(message)
        code, _ = await closed_with(socket)
    assert code == 4400


async def test_legacy_protocol_ignores_what_it_cannot_parse(server: Server) -> None:
    async with opened(server, LEGACY_WS) as socket:
        assert (await init(socket, server.token))["type"] == "connection_ack"
        for junk in ("{not json", "1", "[]", '{"type": 5}'):
            await socket.send(junk)
        # Still listening: a subscription past the node limit gets its refusal.
        await socket.send(start(LEGACY_WS, "q", HEAVY))
        refusal = await receive(socket)
        assert (refusal["id"], refusal["payload"]["extensions"]["code"]) == (
            "q",
            "QUERY_TOO_COMPLEX",
        )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_message_over_the_size_limit_closes_with_1009(
    server: Server, protocol: Subprotocol
) -> None:
    async with opened(server, protocol) as socket:
        assert (await init(socket, server.token))["type"] == "connection_ack"
        padding = "x" * 70_000
        await socket.send(start(protocol, "big", "{ __typename }", pad=padding))
        code, _ = await closed_with(socket)
    assert code == 1009


# Budgets.


async def test_sockets_an_address_may_hold(server: Server) -> None:
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(opened(server)) for _ in range(4)]
        for socket in sockets:
            assert (await init(socket, server.token))["type"] == "connection_ack"
        async with opened(server) as extra:
            code, reason = await closed_with(extra)
        assert (code, "too many connections" in reason) == (1013, True)
    async with opened(server) as again:  # the others closed: there is room again
        assert (await init(again, server.token))["type"] == "connection_ack"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_anonymous_sockets_have_a_smaller_budget(
    server: Server, protocol: Subprotocol
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(2):
            socket = await stack.enter_async_context(opened(server, protocol))
            assert (await init(socket, None))["type"] == "connection_ack"
        anonymous = await stack.enter_async_context(opened(server, protocol))
        await anonymous.send(json.dumps({"type": "connection_init", "payload": {}}))
        code, reason = await closed_with(anonymous)
        assert (code, "sign in" in reason) == (1013, True)
        signed_in = await stack.enter_async_context(opened(server, protocol))
        assert (await init(signed_in, server.token))["type"] == "connection_ack"


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("signed_in", [False, True])
async def test_operations_a_socket_may_hold(
    server: Server, protocol: Subprotocol, signed_in: bool
) -> None:
    limit = 3 if signed_in else 2
    async with opened(server, protocol) as socket:
        assert (await init(socket, server.token if signed_in else None))["type"] == "connection_ack"
        for number in range(limit):
            await socket.send(start(protocol, f"s{number}", PUBLIC))
        await socket.send(start(protocol, "one-too-many", PUBLIC))
        refusal = await receive(socket)
        assert (refusal["type"], refusal["id"]) == ("error", "one-too-many")
        payload = refusal["payload"]
        error = payload[0] if isinstance(payload, list) else payload
        assert error["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        # Completing one makes room for one more; the socket and the others live on.
        stop = "complete" if protocol == TRANSPORT_WS else "stop"
        await socket.send(json.dumps({"id": "s0", "type": stop}))
        await asyncio.sleep(0.2)
        await socket.send(start(protocol, "again", PUBLIC))
        await socket.send(start(protocol, "and-one-too-many", PUBLIC))
        refusal = await receive(socket)
        while refusal.get("type") == "complete":  # the legacy protocol confirms the stop
            refusal = await receive(socket)
        assert (refusal["type"], refusal["id"]) == ("error", "and-one-too-many")


async def test_frames_are_not_compressed_unless_configured(server: Server) -> None:
    """A client offering permessage-deflate (browsers do) gets plain frames: compression
    cost a zlib state per socket and a compression per subscriber per event."""
    async with websockets.connect(
        server.url, subprotocols=[TRANSPORT_WS], compression="deflate"
    ) as socket:
        assert socket.response is not None
        assert socket.response.headers.get("Sec-WebSocket-Extensions") is None


# The document limits, over websockets too.


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_subscription_past_the_node_limit_is_refused(
    server: Server, protocol: Subprotocol
) -> None:
    """The selection an event would execute is counted at subscribe time, as a query is."""
    async with opened(server, protocol) as socket:
        assert (await init(socket, server.token))["type"] == "connection_ack"
        await socket.send(start(protocol, "heavy", HEAVY))
        refusal = await receive(socket)
    assert refusal["type"] == "error"
    payload = refusal["payload"]
    error = payload[0] if isinstance(payload, list) else payload
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == "nodes"


# Every result of a stream is coded: an event that outlives the deadline.


# Holding a lock that blocks readers takes PostgreSQL (SQLite readers never wait).
@pytest.mark.parametrize("server", ["production"], indirect=True)
async def test_an_event_past_the_deadline_is_coded_and_the_stream_lives_on(server: Server) -> None:
    async with httpx.AsyncClient(
        base_url=server.base, headers={"Authorization": f"Bearer {server.token}"}
    ) as http:
        created = await http.post(
            "/graphql",
            json={"query": 'mutation { createContact(input: {name: "Slow"}) { contact { id } } }'},
        )
        contact = created.json()["data"]["createContact"]["contact"]["id"]
        avatar = await upload(
            http,
            "mutation($c: ID!, $f: Upload!) { setContactAvatar(input: {contactId: $c, file: $f}) "
            "{ userErrors { code } } }",
            {"c": contact, "f": None},
            {"0": ("a.png", images.png(), "image/png")},
            {"0": ["variables.f"]},
        )
        assert avatar.json()["data"]["setContactAvatar"]["userErrors"] == []
        query = (
            "subscription($id: ID!) "
            "{ contactChanged(id: $id) { kind contact { avatar { width } } } }"
        )
        rename = (
            "mutation($id: ID!, $n: String!) "
            "{ updateContact(input: {id: $id, name: $n}) { contact { id } } }"
        )
        async with opened(server) as socket:
            assert (await init(socket, server.token))["type"] == "connection_ack"
            await socket.send(start(TRANSPORT_WS, "slow", query, id=contact))
            await asyncio.sleep(0.3)
            locker = await asyncpg.connect(server.env["DATABASE_URL"])
            try:
                transaction = locker.transaction()
                await transaction.start()
                await locker.execute("LOCK TABLE stored_file IN ACCESS EXCLUSIVE MODE")
                await http.post(
                    "/graphql", json={"query": rename, "variables": {"id": contact, "n": "A"}}
                )
                late = await receive(socket, within=10)
                await transaction.rollback()
            finally:
                await locker.close()
            await http.post(
                "/graphql", json={"query": rename, "variables": {"id": contact, "n": "B"}}
            )
            on_time = await receive(socket, within=10)
    assert late["type"] == "next"
    (error,) = late["payload"]["errors"]
    assert error["extensions"]["code"] == "OPERATION_TIMEOUT"
    assert on_time["payload"] == {
        "data": {"contactChanged": {"kind": "UPDATED", "contact": {"avatar": {"width": 64}}}}
    }


# Event streams (GraphQL over SSE) hold places in the same budgets.


async def test_event_streams_count_against_the_address_budget(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        sse = {"Accept": "text/event-stream"}
        async with (
            http.stream("POST", "/graphql/stream", json={"query": PUBLIC}, headers=sse) as one,
            http.stream("POST", "/graphql/stream", json={"query": PUBLIC}, headers=sse) as two,
        ):
            assert (one.status_code, two.status_code) == (200, 200)
            third = await http.post("/graphql/stream", json={"query": PUBLIC}, headers=sse)
            assert third.status_code == 429  # the anonymous budget is 2
            assert third.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
            signed_in = {**sse, "Authorization": f"Bearer {server.token}"}
            async with http.stream(
                "POST", "/graphql/stream", json={"query": PUBLIC}, headers=signed_in
            ) as fine:
                assert fine.status_code == 200
        # Closed streams give their places back (once the server has seen them close).
        for _ in range(40):
            again = await http.post(
                "/graphql/stream", json={"query": "{ __typename }"}, headers=sse
            )
            if again.status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert again.status_code == 200


async def test_a_reserved_stream_holds_a_socket_s_operations(server: Server) -> None:
    auth = {"Authorization": f"Bearer {server.token}"}
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        token = (await http.put("/graphql/stream", headers=auth)).text
        headers = {**auth, "X-GraphQL-Event-Stream-Token": token}
        statuses = [
            (
                await http.post(
                    "/graphql/stream",
                    json={"query": PUBLIC, "extensions": {"operationId": f"op-{n}"}},
                    headers=headers,
                )
            ).status_code
            for n in range(4)
        ]
        async with http.stream(  # connecting and leaving gives the reservation's place back
            "GET", "/graphql/stream", headers={**headers, "Accept": "text/event-stream"}
        ) as stream:
            assert stream.status_code == 200
    assert statuses == [202, 202, 202, 429]  # a signed-in socket holds 3 here
