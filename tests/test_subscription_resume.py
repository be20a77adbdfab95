"""No event missed: a subscriber that reconnects with ``after`` gets each missed event once, in
order; events committed by a process killed before it relayed them, or while Redis was down,
still reach subscribers; the embedded default keeps its events across a kill -9 too.

Real server processes, real websocket clients, a redis-server of the test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backends import create_postgres_database, drop_postgres_database
from tests.conftest import serve, serve_process
from tests.redis_server import DisposableRedis
from tests.test_subscriptions import Stack, connected, login, receive, subscribe
from tests.test_subscriptions import stack as stack  # the fixture

CHANGED = """
subscription($id: ID!, $after: String) {
  contactChanged(id: $id, after: $after) { kind eventId contact { name } }
}
"""
CREATE = 'mutation { createContact(input: {name: "Resume"}) { contact { id } } }'
RENAME = (
    "mutation($id: ID!, $n: String!) { updateContact(input: {id: $id, name: $n}) "
    "{ contact { id } } }"
)


async def events(socket: Any, count: int, within: float = 10) -> list[dict[str, Any]]:
    found = []
    for _ in range(count):
        message = await receive(socket, within)
        assert message["type"] == "next", message
        found.append(message["payload"]["data"]["contactChanged"])
    return found


async def nothing_more(socket: Any, seconds: float = 0.5) -> dict[str, Any] | None:
    """None, or the message that arrived though none should have."""
    with contextlib.suppress(TimeoutError):
        return await receive(socket, seconds)
    return None


async def test_a_client_that_reconnects_with_after_gets_each_missed_event_once_in_order(
    stack: Stack,
) -> None:
    contact = (await stack.gql(CREATE))["createContact"]["contact"]["id"]
    async with connected(stack.ws_url, stack.token) as socket:
        await subscribe(socket, "s", CHANGED, id=contact)
        await stack.gql(RENAME, id=contact, n="seen")
        (seen,) = await events(socket, 1)
    for n in range(3):  # while disconnected
        await stack.gql(RENAME, id=contact, n=f"missed {n}")
    async with connected(stack.ws_url, stack.token) as socket:
        await subscribe(socket, "s", CHANGED, id=contact, after=seen["eventId"])
        missed = await events(socket, 3)
        await stack.gql(RENAME, id=contact, n="live")
        (live,) = await events(socket, 1)
        assert await nothing_more(socket) is None  # and nothing twice
    ids = [int(e["eventId"]) for e in (seen, *missed, live)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert [e["kind"] for e in missed] == ["UPDATED"] * 3
    assert live["contact"]["name"] == "live"


async def test_after_must_be_an_event_id(stack: Stack) -> None:
    contact = (await stack.gql(CREATE))["createContact"]["contact"]["id"]
    async with connected(stack.ws_url, stack.token) as socket:
        await subscribe(socket, "s", CHANGED, id=contact, after="yesterday")
        message = await receive(socket)
    assert message["type"] in {"error", "next"}
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.fixture
async def database() -> Any:
    url = await create_postgres_database()
    yield url
    await drop_postgres_database(url)


async def test_events_survive_redis_down_and_the_committing_process_killed(
    production_env: dict[str, str],
    disposable_redis: DisposableRedis,
    database: str,
    tmp_path: Path,
) -> None:
    """Redis is down while a mutation commits, so its process cannot relay the event; then
    that process is killed (kill -9). When Redis is back, the other process relays the
    event from the outbox and its subscriber gets it."""
    env = {
        **production_env,
        "DATABASE_URL": database,
        "REDIS_URL": disposable_redis.url,
        "REDIS_PREFIX": f"cgresume-{uuid.uuid4().hex[:8]}",
        "REDIS_TIMEOUT_SECONDS": "0.3",
        "FILES_ROOT": str(tmp_path / "files"),
    }
    with (
        serve(env, tmp_path / "reader.log") as reader,
        serve_process(env, tmp_path / "writer.log") as (writer, writer_pid),
    ):
        token = await login(writer, env, "admin")
        stack = Stack(writer, env, token)
        try:
            contact = (await stack.gql(CREATE))["createContact"]["contact"]["id"]
            url = reader.replace("http://", "ws://") + "/graphql"
            async with connected(url, token) as socket:
                await subscribe(socket, "s", CHANGED, id=contact)
                await stack.gql(RENAME, id=contact, n="before")
                (before,) = await events(socket, 1)
                assert before["contact"]["name"] == "before"

                disposable_redis.stop()
                await stack.gql(RENAME, id=contact, n="while Redis was down")
                os.kill(writer_pid, signal.SIGKILL)
                await asyncio.sleep(0.5)
                disposable_redis.start()  # empty: it lost the stream too

                (after,) = await events(socket, 1, within=20)
                assert after["kind"] == "UPDATED"
                assert after["contact"]["name"] == "while Redis was down"
                assert int(after["eventId"]) > int(before["eventId"])
                assert await nothing_more(socket) is None
        finally:
            await stack.http.aclose()


async def test_the_embedded_default_keeps_its_events_across_a_kill(
    live_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **live_env,
        "VAR_DIR": str(tmp_path / "var"),
        "FILES_ROOT": str(tmp_path / "files"),
    }
    with serve_process(env, tmp_path / "first.log") as (base, pid):
        token = await login(base, env, "admin")
        stack = Stack(base, env, token)
        contact = (await stack.gql(CREATE))["createContact"]["contact"]["id"]
        async with connected(stack.ws_url, token) as socket:
            await subscribe(socket, "s", CHANGED, id=contact)
            await stack.gql(RENAME, id=contact, n="seen")
            (seen,) = await events(socket, 1)
        for n in range(2):
            await stack.gql(RENAME, id=contact, n=f"missed {n}")
        await stack.http.aclose()
        os.kill(pid, signal.SIGKILL)
    with serve(env, tmp_path / "second.log") as base:
        stack = Stack(base, env, token)
        try:
            async with connected(stack.ws_url, token) as socket:
                await subscribe(socket, "s", CHANGED, id=contact, after=seen["eventId"])
                missed = await events(socket, 2)
                assert await nothing_more(socket) is None
        finally:
            await stack.http.aclose()
    assert [e["kind"] for e in missed] == ["UPDATED", "UPDATED"]
    assert int(missed[0]["eventId"]) > int(seen["eventId"])


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str | None, dict[str, Any]]]:
    """(id, data) of each ``next`` event of a distinct-mode event stream."""
    event_id, name = None, None
    async for line in response.aiter_lines():
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: ") and name == "next":
            yield event_id, json.loads(line[6:])
        elif not line:
            event_id, name = None, None


async def test_an_event_stream_resumes_after_its_last_event_id(stack: Stack) -> None:
    """SSE: each event carries its eventId as the SSE id; a stream reopened with
    Last-Event-ID (as EventSource does by itself) gets what it missed, then the live ones."""
    contact = (await stack.gql(CREATE))["createContact"]["contact"]["id"]
    body = {"query": CHANGED, "variables": {"id": contact}}
    headers = {"Accept": "text/event-stream"}
    async with stack.http.stream("POST", "/graphql/stream", json=body, headers=headers) as response:
        stream = sse_events(response)
        await asyncio.sleep(0.5)  # subscribed once the stream is open
        await stack.gql(RENAME, id=contact, n="seen")
        seen_id, seen = await asyncio.wait_for(anext(stream), 10)
    assert seen_id == seen["data"]["contactChanged"]["eventId"]
    for n in range(2):
        await stack.gql(RENAME, id=contact, n=f"missed {n}")
    headers["Last-Event-ID"] = str(seen_id)
    async with stack.http.stream("POST", "/graphql/stream", json=body, headers=headers) as response:
        stream = sse_events(response)
        missed = [await asyncio.wait_for(anext(stream), 10) for _ in range(2)]
    ids = [int(event_id or 0) for event_id, _ in missed]
    assert ids == sorted(ids) and ids[0] > int(str(seen_id))
    assert [data["data"]["contactChanged"]["eventId"] for _, data in missed] == [
        str(i) for i in ids
    ]
