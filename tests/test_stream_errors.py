"""Errors inside a subscription stream are coded and masked like HTTP's, event after event.

An unexpected failure while an event executes reaches the subscriber as INTERNAL_SERVER_ERROR
(the detail logged, never sent); a dependency that is out of connections or unreachable as
SERVICE_UNAVAILABLE, with one WARNING line. Both through the real websocket handler, in
process (the failure is injected), on both backends.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy.exc
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.config import Settings
from app.server import create_app
from schema.types.stored_file import StoredFile
from tests import images
from tests.conftest import PASSWORD
from tests.uploads import PREFLIGHT

SUBSCRIPTION = (
    "subscription($id: ID!) { contactChanged(id: $id) { kind contact { avatar { width } } } }"
)
RENAME = (
    "mutation($id: ID!, $n: String!) { updateContact(input: {id: $id, name: $n}) "
    "{ contact { id } } }"
)


@pytest.fixture
def client(app: Starlette, backend_settings: Settings) -> Iterator[TestClient]:
    """An app of its own, run by Starlette's test client on the client's event loop (on the
    test database: ``app`` is asked for so its tables are emptied after the test)."""
    with TestClient(create_app(backend_settings)) as test_client:
        yield test_client


def sign_in(client: TestClient) -> str:
    from app.auth.bootstrap import create_admin

    username = f"stream-{uuid.uuid4().hex[:8]}"
    services = client.app.state.services  # type: ignore[attr-defined]
    client.portal.call(create_admin, services.db, services.auth.passwords, username, PASSWORD)  # type: ignore[union-attr]
    body = client.post(
        "/graphql",
        json={
            "query": "mutation($u: String!, $p: String!) "
            "{ login(input: {username: $u, password: $p}) { token } }",
            "variables": {"u": username, "p": PASSWORD},
        },
    ).json()
    token: str = body["data"]["login"]["token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return token


def contact_with_avatar(client: TestClient) -> str:
    created = client.post(
        "/graphql",
        json={"query": 'mutation { createContact(input: {name: "Watched"}) { contact { id } } }'},
    ).json()
    contact: str = created["data"]["createContact"]["contact"]["id"]
    operations = (
        '{"query": "mutation($c: ID!, $f: Upload!) { setContactAvatar(input: {contactId: $c, '
        'file: $f}) { userErrors { code } } }", "variables": {"c": "' + contact + '", "f": null}}'
    )
    answer = client.post(
        "/graphql",
        data={"operations": operations, "map": '{"0": ["variables.f"]}'},
        files={"0": ("a.png", images.png(), "image/png")},
        headers=PREFLIGHT,
    ).json()
    assert answer["data"]["setContactAvatar"]["userErrors"] == [], answer
    return contact


def next_event(client: TestClient, socket: Any, contact: str, name: str) -> dict[str, Any]:
    client.post("/graphql", json={"query": RENAME, "variables": {"id": contact, "n": name}})
    while True:
        message: dict[str, Any] = socket.receive_json()
        if message["type"] == "next":
            payload: dict[str, Any] = message["payload"]
            return payload


@pytest.mark.parametrize(
    ("failure", "code", "level"),
    [
        (RuntimeError("secret detail of a bug"), "INTERNAL_SERVER_ERROR", logging.ERROR),
        (
            sqlalchemy.exc.TimeoutError(
                "QueuePool limit of size 10 overflow 10 reached, connection timed out, "
                "timeout 30.00 (Background on this error at: https://sqlalche.me/e/20/3o7r)"
            ),
            "SERVICE_UNAVAILABLE",
            logging.WARNING,
        ),
    ],
)
def test_every_event_error_is_coded_and_masked(
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
    code: str,
    level: int,
) -> None:
    token = sign_in(client)
    contact = contact_with_avatar(client)
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as socket:
        socket.send_json({"type": "connection_init", "payload": {"token": token}})
        assert socket.receive_json()["type"] == "connection_ack"
        socket.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": SUBSCRIPTION, "variables": {"id": contact}},
            }
        )
        first = next_event(client, socket, contact, "one")  # before anything fails
        assert first["data"]["contactChanged"]["contact"]["avatar"] == {"width": 64}

        def fail(row: object) -> StoredFile:
            raise failure

        monkeypatch.setattr(StoredFile, "from_row", fail)
        ids = set()
        with caplog.at_level(logging.WARNING, logger="contentgraph.graphql"):
            for round_ in ("two", "three"):  # not only the first result of the stream
                failed = next_event(client, socket, contact, round_)
                (error,) = failed["errors"]
                extensions = dict(error["extensions"])
                ids.add(extensions.pop("requestId", None))
                assert extensions == {"code": code}
                assert "secret" not in error["message"] and "QueuePool" not in error["message"]
        monkeypatch.undo()
        again = next_event(client, socket, contact, "four")  # the stream lives on
        assert again["data"]["contactChanged"]["contact"]["avatar"] == {"width": 64}
    logged = [r for r in caplog.records if r.name == "contentgraph.graphql"]
    assert len(logged) == 2 and {r.levelno for r in logged} == {level}
    assert all((r.exc_info is not None) == (level == logging.ERROR) for r in logged)
    # An internal error names the socket's request id, which its log lines carry.
    expected = {vars(r)["request_id"] for r in logged} if level == logging.ERROR else {None}
    assert ids == expected and len(ids) == 1
