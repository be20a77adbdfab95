"""The scaled shape for real: two server processes on one PostgreSQL, one Redis and one bucket
(moto's S3 server, started by the suite). A file uploaded through one process is served by the
other, a subscriber on the other hears of it, and fsck finds the bucket and the rows agree."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from tests import images
from tests.conftest import run_cli
from tests.s3_server import S3Server
from tests.two_servers import two_servers
from tests.uploads import upload

CREATE = 'mutation { createContact(input: {name: "Shared"}) { contact { id } } }'
SET_AVATAR = """mutation($contactId: ID!, $file: Upload!) {
  setContactAvatar(input: {contactId: $contactId, file: $file}) {
    contact { avatar { sha256 } } userErrors { message }
  }
}"""
AVATAR = "query($id: ID!) { contact(id: $id) { avatar { url sha256 size } } }"
CONTACT_CHANGED = "subscription($id: ID!) { contactChanged(id: $id) { kind contact { name } } }"
TRANSPORT_WS = Subprotocol("graphql-transport-ws")
EVENT_SECONDS = 10.0


@dataclass
class Pair:
    first: str
    second: str
    env: dict[str, str]
    bucket: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def pair(s3_server: S3Server) -> Iterator[Pair]:
    directory = Path(tempfile.mkdtemp(prefix="contentgraph-pair-"))
    bucket = s3_server.new_bucket()
    try:
        # FILES_ROOT stays unused: the files live in the bucket.
        with two_servers(directory, **s3_server.env(bucket)) as servers:
            first, second = servers.bases
            yield Pair(first, second, servers.env, bucket, servers.token)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def test_an_upload_through_one_process_is_served_and_announced_by_the_other(
    pair: Pair, s3_server: S3Server
) -> None:
    async with httpx.AsyncClient(base_url=pair.first, headers=pair.auth) as first:
        created = (await first.post("/graphql", json={"query": CREATE})).json()
    contact = created["data"]["createContact"]["contact"]["id"]
    picture = images.png(64, 48)

    url = pair.second.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=[TRANSPORT_WS]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": pair.auth}))
        ack = json.loads(await asyncio.wait_for(socket.recv(), EVENT_SECONDS))
        assert ack["type"] == "connection_ack"
        subscribe = {"query": CONTACT_CHANGED, "variables": {"id": contact}}
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        await asyncio.sleep(0.5)  # subscribed (in the second process) before the change

        async with httpx.AsyncClient(base_url=pair.first, headers=pair.auth) as first:
            uploaded = await upload(
                first,
                SET_AVATAR,
                {"contactId": contact, "file": None},
                {"0": ("shared.png", picture, "image/png")},
                {"0": ["variables.file"]},
            )
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json()["data"]["setContactAvatar"]["userErrors"] == []

        message = json.loads(await asyncio.wait_for(socket.recv(), EVENT_SECONDS))
        assert message["type"] == "next", message
        assert message["payload"]["data"]["contactChanged"]["contact"] == {"name": "Shared"}

    sha256 = hashlib.sha256(picture).hexdigest()
    async with httpx.AsyncClient(base_url=pair.second, headers=pair.auth) as second:
        found = await second.post("/graphql", json={"query": AVATAR, "variables": {"id": contact}})
        avatar = found.json()["data"]["contact"]["avatar"]
        assert avatar["sha256"] == sha256 and avatar["size"] == len(picture)
        served = await second.get(avatar["url"])
        assert served.status_code == 200
        assert served.content == picture
        ranged = await second.get(avatar["url"], headers={"Range": "bytes=0-7"})
        assert ranged.status_code == 206 and ranged.content == picture[:8]

    assert any(key.endswith(sha256) for key in s3_server.keys(pair.bucket))
    checked = run_cli(pair.env, "fsck", "--verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 dangling rows, 0 orphan blobs" in checked.stdout
