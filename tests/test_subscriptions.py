"""Subscriptions over real websockets, on the embedded and the PostgreSQL+Redis stacks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests import images
from tests.conftest import PASSWORD, run_cli, serve
from tests.uploads import upload

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
LEGACY_WS = Subprotocol("graphql-ws")
LOGIN = (
    "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { token } }"
)


class Stack:
    def __init__(self, base: str, env: dict[str, str], token: str) -> None:
        self.base, self.env, self.token = base, env, token
        self.http = httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"})

    async def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        body = (
            await self.http.post("/graphql", json={"query": query, "variables": variables})
        ).json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/graphql"


async def login(base: str, env: dict[str, str], *roles: str) -> str:
    username = f"sub-{uuid.uuid4().hex[:8]}"
    flags = ["--admin"] if "admin" in roles else []
    assert (
        run_cli(env, "createuser", username, *flags, "--password-stdin", stdin=PASSWORD).returncode
        == 0
    )
    async with httpx.AsyncClient(base_url=base) as http:
        body = (
            await http.post(
                "/graphql", json={"query": LOGIN, "variables": {"u": username, "p": PASSWORD}}
            )
        ).json()
    token: str = body["data"]["login"]["token"]
    return token


@pytest.fixture
async def stack(live_stack: tuple[str, dict[str, str]]) -> AsyncIterator[Stack]:
    base, env = live_stack
    result = Stack(base, env, await login(base, env, "admin"))
    yield result
    await result.http.aclose()


@contextlib.asynccontextmanager
async def connected(
    url: str, token: str | None, protocol: Subprotocol = TRANSPORT_WS
) -> AsyncIterator[Any]:
    async with websockets.connect(url, subprotocols=[protocol]) as socket:
        payload = {"token": token} if token else {}
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        yield socket


async def receive(socket: Any, within: float = 5) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), within))
        if message["type"] not in {"ka", "ping", "pong"}:
            return message


async def subscribe(socket: Any, op: str, query: str, **variables: Any) -> None:
    await socket.send(
        json.dumps(
            {"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
    )
    await asyncio.sleep(0.3)  # let the server register the subscription before we mutate


CONTACT_CHANGED = """
subscription($id: ID!) {
  contactChanged(id: $id) { kind contactId contact { name avatar { width } } }
}
"""
ALBUM_CHANGED = """
subscription($id: ID!) {
  albumChanged(id: $id) {
    kind albumId photoIds album { title photoCount } photos { caption sort }
  }
}
"""
FILE_CHANGED = (
    "subscription($e: StorageEntity!) { fileChanged(entity: $e) { kind entity fileId file { width"
    " } } }"
)


async def test_contact_changed_reports_every_kind(stack: Stack) -> None:
    contact = (
        await stack.gql('mutation { createContact(input: {name: "Watched"}) { contact { id } } }')
    )["createContact"]["contact"]["id"]
    async with connected(stack.ws_url, stack.token) as socket:
        await subscribe(socket, "c", CONTACT_CHANGED, id=contact)
        await stack.gql(
            'mutation($id: ID!) { updateContact(input: {id: $id, name: "Renamed"}) { contact '
            "{ id } } }",
            id=contact,
        )
        message = await receive(socket)
        assert message["type"] == "next"
        assert message["payload"]["data"]["contactChanged"] == {
            "kind": "UPDATED",
            "contactId": contact,
            "contact": {"name": "Renamed", "avatar": None},
        }
        for kind, content in (
            ("AVATAR_SET", images.png(11, 11)),
            ("AVATAR_REPLACED", images.png(12, 12)),
        ):
            await upload(
                stack.http,
                "mutation($c: ID!, $f: Upload!) { setContactAvatar(input: {contactId: $c, "
                "file: $f}) { userErrors { code } } }",
                {"c": contact, "f": None},
                {"0": ("a.png", content, "image/png")},
                {"0": ["variables.f"]},
                token=stack.token,
            )
            event = (await receive(socket))["payload"]["data"]["contactChanged"]
            assert event["kind"] == kind
        assert event["contact"]["avatar"] == {"width": 12}
        await stack.gql(
            "mutation($id: ID!) { removeContactAvatar(input: {contactId: $id}) { userErrors { "
            "code } } }",
            id=contact,
        )
        assert (await receive(socket))["payload"]["data"]["contactChanged"][
            "kind"
        ] == "AVATAR_REMOVED"
        await stack.gql(
            "mutation($id: ID!) { deleteContact(input: {id: $id}) { deletedContactId } }",
            id=contact,
        )
        deleted = (await receive(socket))["payload"]["data"]["contactChanged"]
        assert deleted == {"kind": "DELETED", "contactId": contact, "contact": None}


async def test_album_changed_reports_photo_operations(stack: Stack) -> None:
    album = (await stack.gql('mutation { createAlbum(input: {title: "Live"}) { album { id } } }'))[
        "createAlbum"
    ]["album"]["id"]
    other = (await stack.gql('mutation { createAlbum(input: {title: "Other"}) { album { id } } }'))[
        "createAlbum"
    ]["album"]["id"]
    async with connected(stack.ws_url, stack.token) as socket:
        await subscribe(socket, "a", ALBUM_CHANGED, id=album)
        response = await upload(
            stack.http,
            "mutation($a: ID!, $f: [Upload!]!) { addPhotos(input: {albumId: $a, files: $f, "
            'captions: ["x", "y"]}) { photos { id } } }',
            {"a": album, "f": [None, None]},
            {
                "0": ("0.png", images.png(3, 3), "image/png"),
                "1": ("1.png", images.png(4, 4), "image/png"),
            },
            {"0": ["variables.f.0"], "1": ["variables.f.1"]},
            token=stack.token,
        )
        photo_ids = [p["id"] for p in response.json()["data"]["addPhotos"]["photos"]]
        added = (await receive(socket))["payload"]["data"]["albumChanged"]
        assert added["kind"] == "PHOTOS_ADDED"
        assert added["photoIds"] == photo_ids
        assert added["album"] == {"title": "Live", "photoCount": 2}
        assert added["photos"] == [{"caption": "x", "sort": 0}, {"caption": "y", "sort": 1}]

        await stack.gql(
            'mutation($id: ID!) { updatePhoto(input: {id: $id, caption: "z"}) { photo { id } } }',
            id=photo_ids[0],
        )
        assert (await receive(socket))["payload"]["data"]["albumChanged"]["photos"] == [
            {"caption": "z", "sort": 0}
        ]
        await stack.gql(
            "mutation($a: ID!, $ids: [ID!]!) { reorderPhotos(input: {albumId: $a, photoIds: "
            "$ids}) { photos { id } } }",
            a=album,
            ids=photo_ids[::-1],
        )
        reordered = (await receive(socket))["payload"]["data"]["albumChanged"]
        assert (reordered["kind"], reordered["photoIds"]) == ("PHOTOS_REORDERED", photo_ids[::-1])
        await stack.gql(
            "mutation($id: ID!, $to: ID!) { movePhoto(input: {id: $id, toAlbumId: $to}) { "
            "photo { id } } }",
            id=photo_ids[1],
            to=other,
        )
        moved = (await receive(socket))["payload"]["data"]["albumChanged"]
        assert (moved["kind"], moved["album"]["photoCount"]) == ("PHOTO_MOVED", 1)
        await upload(
            stack.http,
            "mutation($id: ID!, $f: Upload!) { replacePhotoFile(input: {id: $id, file: $f}) "
            "{ userErrors { code } } }",
            {"id": photo_ids[0], "f": None},
            {"0": ("new.png", images.png(6, 6), "image/png")},
            {"0": ["variables.f"]},
            token=stack.token,
        )
        replaced = (await receive(socket))["payload"]["data"]["albumChanged"]
        assert (replaced["kind"], replaced["photoIds"]) == ("PHOTO_REPLACED", photo_ids[:1])
        await stack.gql(
            "mutation($id: ID!) "
            '{ updateAlbum(input: {id: $id, title: "Renamed"}) { album { id } } }',
            id=album,
        )
        renamed = (await receive(socket))["payload"]["data"]["albumChanged"]
        assert (renamed["kind"], renamed["album"]["title"]) == ("UPDATED", "Renamed")
        await stack.gql(
            "mutation($id: ID!) { deletePhoto(input: {id: $id}) { deletedPhotoId } }",
            id=photo_ids[0],
        )
        gone = (await receive(socket))["payload"]["data"]["albumChanged"]
        assert (gone["kind"], gone["photos"]) == ("PHOTO_DELETED", [])
        await stack.gql(
            "mutation($id: ID!) { deleteAlbum(input: {id: $id}) { deletedAlbumId } }", id=album
        )
        assert (await receive(socket))["payload"]["data"]["albumChanged"]["album"] is None


async def test_file_changed_follows_a_storage_entity(stack: Stack) -> None:
    contact = (
        await stack.gql('mutation { createContact(input: {name: "F"}) { contact { id } } }')
    )["createContact"]["contact"]["id"]
    async with connected(stack.ws_url, stack.token) as socket:
        await subscribe(socket, "f", FILE_CHANGED, e="CONTACTS_AVATAR")
        await upload(
            stack.http,
            "mutation($c: ID!, $f: Upload!) { setContactAvatar(input: {contactId: $c, file: "
            "$f}) { userErrors { code } } }",
            {"c": contact, "f": None},
            {"0": ("a.png", images.png(21, 21), "image/png")},
            {"0": ["variables.f"]},
            token=stack.token,
        )
        created = (await receive(socket))["payload"]["data"]["fileChanged"]
        assert (created["kind"], created["entity"], created["file"]) == (
            "FILE_CREATED",
            "contacts.avatar",
            {"width": 21},
        )
        await stack.gql(
            "mutation($id: ID!) { removeContactAvatar(input: {contactId: $id}) { userErrors { "
            "code } } }",
            id=contact,
        )
        deleted = (await receive(socket))["payload"]["data"]["fileChanged"]
        assert (deleted["kind"], deleted["fileId"], deleted["file"]) == (
            "FILE_DELETED",
            created["fileId"],
            None,
        )


async def test_subscribing_needs_the_read_scope_and_a_revoked_session_stops(stack: Stack) -> None:
    album = (
        await stack.gql('mutation { createAlbum(input: {title: "Private"}) { album { id } } }')
    )["createAlbum"]["album"]["id"]
    nobody = await login(stack.base, stack.env)
    async with connected(stack.ws_url, nobody) as socket:
        await subscribe(socket, "x", ALBUM_CHANGED, id=album)
        refused = await receive(socket)
        assert refused["type"] in {"error", "next"}
        errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"

    reader = await login(stack.base, stack.env, "admin")
    async with connected(stack.ws_url, reader) as socket:
        await subscribe(socket, "y", ALBUM_CHANGED, id=album)
        async with httpx.AsyncClient(
            base_url=stack.base, headers={"Authorization": f"Bearer {reader}"}
        ) as http:
            await http.post("/graphql", json={"query": "mutation { logout { revokedSessions } }"})
        await asyncio.sleep(1.2)  # a connection re-checks its session at most once a second
        await stack.gql(
            'mutation($id: ID!) { updateAlbum(input: {id: $id, title: "T2"}) { album { id } } }',
            id=album,
        )
        stopped = await receive(socket)
        payload = stopped["payload"]
        errors = payload if stopped["type"] == "error" else payload.get("errors")
        assert errors and errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "data" not in stopped["payload"] or not stopped["payload"]["data"]


async def test_legacy_graphql_ws_subscriptions(stack: Stack) -> None:
    contact = (
        await stack.gql('mutation { createContact(input: {name: "Legacy"}) { contact { id } } }')
    )["createContact"]["contact"]["id"]
    async with connected(stack.ws_url, stack.token, LEGACY_WS) as socket:
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "start",
                    "payload": {"query": CONTACT_CHANGED, "variables": {"id": contact}},
                }
            )
        )
        await asyncio.sleep(0.3)
        await stack.gql(
            'mutation($id: ID!) { updateContact(input: {id: $id, name: "Old school"}) { '
            "contact { id } } }",
            id=contact,
        )
        message = await receive(socket)
        assert message["type"] == "data"
        assert message["payload"]["data"]["contactChanged"]["contact"]["name"] == "Old school"
        await socket.send(json.dumps({"id": "1", "type": "stop"}))
        assert (await receive(socket))["type"] == "complete"


async def close_code(url: str, messages: list[dict[str, Any]]) -> int:
    async with websockets.connect(url, subprotocols=[TRANSPORT_WS]) as socket:
        for message in messages:
            await socket.send(json.dumps(message))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def test_protocol_errors_close_with_the_protocol_codes(stack: Stack) -> None:
    sub = {
        "id": "1",
        "type": "subscribe",
        "payload": {"query": FILE_CHANGED, "variables": {"e": "USERS_AVATAR"}},
    }
    init = {"type": "connection_init", "payload": {"token": stack.token}}
    assert await close_code(stack.ws_url, [sub]) == 4401  # subscribe before connection_ack
    assert await close_code(stack.ws_url, [init, init]) == 4429  # too many initialisation requests
    assert await close_code(stack.ws_url, [init, sub, sub]) == 4409  # subscriber already exists
    assert await close_code(stack.ws_url, [init, {"type": "bogus"}]) == 4400


async def test_disconnecting_leaves_no_subscription_behind(stack: Stack) -> None:
    async def live() -> int:
        text = (await stack.http.get("/metrics")).text
        return int(
            float(
                next(
                    line.split()[1]
                    for line in text.splitlines()
                    if line.startswith("contentgraph_subscriptions ")
                )
            )
        )

    baseline = await live()
    sockets = []
    for i in range(5):
        socket = await websockets.connect(stack.ws_url, subprotocols=[TRANSPORT_WS])
        await socket.send(
            json.dumps({"type": "connection_init", "payload": {"token": stack.token}})
        )
        await socket.recv()
        await subscribe(socket, str(i), FILE_CHANGED, e="USERS_AVATAR")
        sockets.append(socket)
    assert await live() == baseline + 5
    for socket in sockets:
        await socket.close()
    for _ in range(50):
        if await live() == baseline:
            break
        await asyncio.sleep(0.1)
    assert await live() == baseline


async def test_events_cross_server_processes(
    production_env: dict[str, str], production_server: str, tmp_path: Any
) -> None:
    """Two processes share PostgreSQL, Redis and the files root: a change on one reaches a
    subscriber on the other within a second."""
    from pathlib import Path

    with serve(production_env, Path(tmp_path) / "second.log") as second:
        token = await login(production_server, production_env, "admin")
        writer = Stack(production_server, production_env, token)
        try:
            contact = (
                await writer.gql(
                    'mutation { createContact(input: {name: "Shared"}) { contact { id } } }'
                )
            )["createContact"]["contact"]["id"]
            async with connected(second.replace("http://", "ws://") + "/graphql", token) as socket:
                await subscribe(socket, "m", CONTACT_CHANGED, id=contact)
                started = asyncio.get_running_loop().time()
                await writer.gql(
                    'mutation($id: ID!) { updateContact(input: {id: $id, name: "Across"}) { '
                    "contact { id } } }",
                    id=contact,
                )
                message = await receive(socket, within=1.0)
                assert asyncio.get_running_loop().time() - started < 1.0
                assert message["payload"]["data"]["contactChanged"]["contact"]["name"] == "Across"
        finally:
            await writer.http.aclose()
