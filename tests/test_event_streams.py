"""GraphQL over Server-Sent Events, spoken by the real graphql-sse client from Node (both of
its modes) and by plain HTTP, against a live server on both stacks."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import signed_in
from tests.node import JS_DIR, node

CONTACT_CHANGED = "subscription($id: ID!) { contactChanged(id: $id) { kind contact { name } } }"
CREATE = 'mutation { createContact(input: {name: "Streamed"}) { contact { id } } }'
RENAME = (
    "mutation($id: ID!, $n: String!) { updateContact(input: {id: $id, name: $n}) "
    "{ contact { id } } }"
)


class Live:
    def __init__(self, base: str, env: dict[str, str]) -> None:
        self.base, self.env = base, env

    async def token(self, *flags: str) -> str:
        return signed_in(self.base, self.env, *flags)[1]

    async def post(self, query: str, token: str | None, **variables: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(base_url=self.base) as http:
            response = await http.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def live(live_stack: tuple[str, dict[str, str]]) -> Live:
    return Live(*live_stack)


async def lines(process: asyncio.subprocess.Process) -> AsyncIterator[dict[str, Any]]:
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        if not line:
            return
        yield json.loads(line)


@pytest.mark.parametrize("mode", ["distinct", "single"])
async def test_the_graphql_sse_client_receives_every_event(live: Live, mode: str) -> None:
    binary = node()
    token = await live.token("--admin")
    contact = (await live.post(CREATE, token))["data"]["createContact"]["contact"]["id"]
    process = await asyncio.create_subprocess_exec(
        binary,
        "sse.mjs",
        f"{live.base}/graphql/stream",
        mode,
        token,
        "2",
        CONTACT_CHANGED,
        json.dumps({"id": contact}),
        cwd=JS_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    received: list[dict[str, Any]] = []
    try:
        stream = lines(process)
        assert await anext(stream) == {"connected": True}
        await asyncio.sleep(0.5)  # distinct mode: the operation is subscribed once connected
        for name in ("One", "Two"):
            await live.post(RENAME, token, id=contact, n=name)
            received.append(await anext(stream))
        assert await anext(stream) == {"done": True}
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    assert [r["data"]["contactChanged"]["contact"]["name"] for r in received] == ["One", "Two"]


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """(event, data) pairs of a text/event-stream body."""
    name, data = "", ""
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data = line.split(":", 1)[1].strip()
        elif line == "" and name:
            yield name, json.loads(data) if data else None
            name, data = "", ""


@pytest.mark.parametrize("path", ["/graphql", "/graphql/stream"])
async def test_a_request_error_arrives_as_a_coded_event(live: Live, path: str) -> None:
    """PROTOCOL.md: errors before execution go through the accepted stream."""
    async with (
        httpx.AsyncClient(base_url=live.base) as http,
        http.stream(
            "POST", path, json={"query": "{ nope }"}, headers={"Accept": "text/event-stream"}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        received = [pair async for pair in events(response)]
    (first, payload), (last, _) = received
    assert (first, last) == ("next", "complete")
    assert "data" not in payload
    assert payload["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_a_revoked_session_ends_the_stream_s_events(live: Live) -> None:
    """The session is re-checked during a stream, as on a websocket."""
    token = await live.token("--admin")
    contact = (await live.post(CREATE, token))["data"]["createContact"]["contact"]["id"]
    async with (
        httpx.AsyncClient(base_url=live.base, timeout=30) as http,
        http.stream(
            "POST",
            "/graphql/stream",
            json={"query": CONTACT_CHANGED, "variables": {"id": contact}},
            headers={"Accept": "text/event-stream", "Authorization": f"Bearer {token}"},
        ) as response,
    ):
        stream = events(response)
        await asyncio.sleep(0.5)
        await live.post(RENAME, token, id=contact, n="Seen")
        _, first = await anext(stream)
        assert first["data"]["contactChanged"]["contact"]["name"] == "Seen"
        await live.post("mutation { logout { revokedSessions } }", token)
        await asyncio.sleep(1.2)  # the re-check interval
        admin = await live.token("--admin")
        await live.post(RENAME, admin, id=contact, n="Unseen")
        _, refused = await anext(stream)
        assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "Unseen" not in json.dumps(refused)


async def test_single_connection_mode_over_plain_http(live: Live) -> None:
    """PUT reserves, GET streams, POST runs an operation (202), DELETE stops it."""
    token = await live.token("--admin")
    contact = (await live.post(CREATE, token))["data"]["createContact"]["contact"]["id"]
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=live.base, timeout=30) as http:
        reserved = await http.put("/graphql/stream", headers=auth)
        assert reserved.status_code == 201
        stream_token = reserved.text
        with_token = {**auth, "X-GraphQL-Event-Stream-Token": stream_token}
        async with http.stream(
            "GET", "/graphql/stream", headers={**with_token, "Accept": "text/event-stream"}
        ) as response:
            again = await http.get(
                "/graphql/stream", headers={**with_token, "Accept": "text/event-stream"}
            )
            assert again.status_code == 409  # one stream per reservation
            stream = events(response)
            subscribe = {
                "query": CONTACT_CHANGED,
                "variables": {"id": contact},
                "extensions": {"operationId": "op-1"},
            }
            accepted = await http.post("/graphql/stream", json=subscribe, headers=with_token)
            assert accepted.status_code == 202
            twice = await http.post("/graphql/stream", json=subscribe, headers=with_token)
            assert twice.status_code == 409
            bad = await http.post(
                "/graphql/stream",
                json={"query": "{ nope }", "extensions": {"operationId": "op-2"}},
                headers=with_token,
            )
            assert bad.status_code == 400
            assert bad.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
            await asyncio.sleep(0.3)
            await live.post(RENAME, token, id=contact, n="Single")
            name, message = await anext(stream)
            assert (name, message["id"]) == ("next", "op-1")
            assert message["payload"]["data"]["contactChanged"]["contact"]["name"] == "Single"
            stopped = await http.delete(
                "/graphql/stream", params={"operationId": "op-1"}, headers=with_token
            )
            assert stopped.status_code == 200
            query = {"query": "{ __typename }", "extensions": {"operationId": "op-3"}}
            assert (
                await http.post("/graphql/stream", json=query, headers=with_token)
            ).status_code == 202
            name, message = await anext(stream)
            assert (name, message) == (
                "next",
                {"id": "op-3", "payload": {"data": {"__typename": "Query"}}},
            )
            assert await anext(stream) == ("complete", {"id": "op-3"})
        unknown = await http.post(
            "/graphql/stream", json=query, headers={"X-GraphQL-Event-Stream-Token": "nope"}
        )
        assert unknown.status_code == 404
