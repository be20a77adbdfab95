"""deploy/nginx.conf, run for real in front of two server processes (the scaled profile's
shape without Docker): requests spread over both, websocket subscriptions upgrade, event
streams arrive while they stay open, a single-connection stream's requests reach the process
that reserved it, uploads stream through. Events cross processes through Redis.

Needs an ``nginx`` binary (Debian, Ubuntu: apt-get install nginx); CI installs it. Only the
addresses are changed: the replicas' (local ports instead of Docker's DNS name), the listening
port, and the paths of logs and temporary files.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from tests import images
from tests.backends import (
    unavailable,
)
from tests.conftest import PASSWORD
from tests.processes import (
    SEARCH_PATH,
    free_port,
    kill_group,
    login_token,
    port_open,
)
from tests.two_servers import two_servers
from tests.uploads import upload

NGINX_CONF = Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf"
CREATE = 'mutation { createContact(input: {name: "Proxied"}) { contact { id } } }'
RENAME = (
    "mutation($id: ID!, $n: String!) { updateContact(input: {id: $id, name: $n}) "
    "{ contact { id } } }"
)
CONTACT_CHANGED = "subscription($id: ID!) { contactChanged(id: $id) { contact { name } } }"
SET_AVATAR = """mutation($contactId: ID!, $file: Upload!) {
  setContactAvatar(input: {contactId: $contactId, file: $file}) {
    contact { avatar { width height } } userErrors { message }
  }
}"""
#: Long enough for a loaded CI machine, far shorter than nginx's buffers would hold an event.
EVENT_SECONDS = 10.0
TRANSPORT_WS = Subprotocol("graphql-transport-ws")


@dataclass
class Stack:
    base: str  # the proxy
    replicas: list[int]  # their ports
    access_log: Path
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def post(self, query: str, **variables: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base, headers=self.auth) as http:
            response = await http.post("/graphql", json={"query": query, "variables": variables})
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return body

    async def contact(self) -> str:
        created = await self.post(CREATE)
        contact: str = created["data"]["createContact"]["contact"]["id"]
        return contact


def nginx_binary() -> str:
    binary = shutil.which("nginx", path=SEARCH_PATH)
    if binary is None:
        unavailable("no nginx binary (Debian, Ubuntu: apt-get install nginx)")
    return str(binary)


def local_configuration(directory: Path, port: int, replicas: list[int]) -> str:
    """deploy/nginx.conf with local addresses and paths; everything else as shipped."""
    text = NGINX_CONF.read_text()

    def servers(match: re.Match[str]) -> str:
        return " ".join(f"server 127.0.0.1:{r}{match.group(1)};" for r in replicas)

    text, count = re.subn(r"server replica:8000([^;]*);", servers, text)
    assert count == 2, "both upstreams name the replicas"
    text, count = re.subn(r"listen 80;", f"listen 127.0.0.1:{port};", text)
    assert count == 1
    text, count = re.subn(
        r"access_log /dev/stdout upstream;", f"access_log {directory}/access.log upstream;", text
    )
    assert count == 1
    temporary = "".join(
        f"    {kind}_temp_path {directory}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return text.replace("http {\n", "http {\n" + temporary, 1)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    binary = nginx_binary()
    # Readable by nginx's workers, which drop root's rights (pytest's tmp_path is root's only).
    directory = Path(tempfile.mkdtemp(prefix="contentgraph-proxy-"))
    directory.chmod(0o755)
    nginx: subprocess.Popen[bytes] | None = None
    try:
        # One files root for both replicas: the scaled profile has S3.
        with two_servers(directory) as servers:
            try:
                replicas = [int(base.rsplit(":", 1)[1]) for base in servers.bases]
                port = free_port()
                config = directory / "nginx.conf"
                config.write_text(local_configuration(directory, port, replicas))
                arguments = [
                    binary,
                    "-p",
                    f"{directory}/",
                    "-c",
                    str(config),
                    "-g",
                    f"daemon off; pid {directory}/nginx.pid; error_log {directory}/error.log;",
                ]
                tested = subprocess.run(
                    [*arguments, "-t"], capture_output=True, text=True, timeout=30
                )
                assert tested.returncode == 0, tested.stderr
                nginx = subprocess.Popen(
                    arguments,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                deadline = time.monotonic() + 10
                while not port_open(port):
                    assert nginx.poll() is None, (directory / "error.log").read_text()
                    assert time.monotonic() < deadline, "nginx did not listen"
                    time.sleep(0.05)
                base = f"http://127.0.0.1:{port}"
                yield Stack(
                    base, replicas, directory / "access.log", login_token(base, "ops", PASSWORD)
                )
            finally:
                if nginx is not None:  # before the replicas behind it
                    kill_group(nginx)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_requests_spread_over_both_replicas(stack: Stack) -> None:
    for _ in range(8):
        assert httpx.get(f"{stack.base}/readyz").status_code == 200
    answered = set(re.findall(r"upstream=127\.0\.0\.1:(\d+)", stack.access_log.read_text()))
    assert answered == {str(port) for port in stack.replicas}
    assert httpx.get(f"{stack.base}/metrics").status_code == 404  # scraped per replica


async def test_a_websocket_subscription_through_the_proxy(stack: Stack) -> None:
    """Upgraded by nginx; the event comes from a mutation on whichever replica answers it."""
    contact = await stack.contact()
    url = stack.base.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=[TRANSPORT_WS]) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": stack.auth}))
        ack = json.loads(await asyncio.wait_for(socket.recv(), EVENT_SECONDS))
        assert ack["type"] == "connection_ack"
        subscribe = {"query": CONTACT_CHANGED, "variables": {"id": contact}}
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
        await asyncio.sleep(0.5)  # subscribed before the change
        for name in ("One", "Two"):  # round robin: one of them on the other replica
            await stack.post(RENAME, id=contact, n=name)
            message = json.loads(await asyncio.wait_for(socket.recv(), EVENT_SECONDS))
            assert message["type"] == "next", message
            assert message["payload"]["data"]["contactChanged"]["contact"]["name"] == name


async def _events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
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
async def test_an_event_stream_is_not_held_back(stack: Stack, path: str) -> None:
    """An event of a few hundred bytes gets through while its stream stays open. (nginx 1.22
    passed such events on even with its buffering on, in trying: that the configuration turns
    it off for event streams is checked in test_deployment_files.)"""
    contact = await stack.contact()
    async with (
        httpx.AsyncClient(base_url=stack.base, timeout=30) as http,
        http.stream(
            "POST",
            path,
            json={"query": CONTACT_CHANGED, "variables": {"id": contact}},
            headers={**stack.auth, "Accept": "text/event-stream"},
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = _events(response)
        await asyncio.sleep(0.5)
        await stack.post(RENAME, id=contact, n="Streamed")
        name, message = await asyncio.wait_for(anext(stream), EVENT_SECONDS)
        assert name == "next"
        assert message["data"]["contactChanged"]["contact"]["name"] == "Streamed"


async def test_a_single_connection_stream_stays_with_its_replica(stack: Stack) -> None:
    """PUT, GET and POST are separate requests (over separate connections here): the
    proxy sends them all to the replica holding the reservation."""
    contact = await stack.contact()
    async with httpx.AsyncClient(base_url=stack.base, timeout=30) as http:
        reserved = await http.put("/graphql/stream", headers=stack.auth)
        assert reserved.status_code == 201
        with_token = {**stack.auth, "X-GraphQL-Event-Stream-Token": reserved.text}
        async with (
            httpx.AsyncClient(base_url=stack.base, timeout=30) as streaming,
            streaming.stream(
                "GET", "/graphql/stream", headers={**with_token, "Accept": "text/event-stream"}
            ) as response,
        ):
            assert response.status_code == 200
            stream = _events(response)
            for number in range(4):  # a new connection each: no keepalive to lean on
                operation = {
                    "query": CONTACT_CHANGED,
                    "variables": {"id": contact},
                    "extensions": {"operationId": f"op-{number}"},
                }
                async with httpx.AsyncClient(base_url=stack.base) as once:
                    accepted = await once.post(
                        "/graphql/stream", json=operation, headers=with_token
                    )
                assert accepted.status_code == 202, accepted.text
            await asyncio.sleep(0.5)
            await stack.post(RENAME, id=contact, n="Single")
            seen = set()
            for _ in range(4):
                name, message = await asyncio.wait_for(anext(stream), EVENT_SECONDS)
                assert name == "next"
                seen.add(message["id"])
            assert seen == {f"op-{number}" for number in range(4)}


async def test_an_upload_streams_through(stack: Stack) -> None:
    contact = await stack.contact()
    async with httpx.AsyncClient(base_url=stack.base, headers=stack.auth) as http:
        response = await upload(
            http,
            SET_AVATAR,
            {"contactId": contact, "file": None},
            {"0": ("a.png", images.png(40, 30), "image/png")},
            {"0": ["variables.file"]},
        )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["setContactAvatar"] == {
        "contact": {"avatar": {"width": 40, "height": 30}},
        "userErrors": [],
    }
