"""One cross-origin policy for every transport: preflights, real answers, /files, websockets.

The test servers allow FRONTEND_ORIGIN (tests/backends.py); the embedded default also allows
any port on localhost, production nothing that is not configured. The browser-level proof
(fetch, upload, websocket and SSE from a page on another origin) is
tests/test_cross_origin_browser.py.
"""

from __future__ import annotations

import json

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from app.config import ConfigurationError, Settings, load_settings
from app.http.cors import CorsPolicy
from tests.backends import FRONTEND_ORIGIN
from tests.conftest import GraphQLClient
from tests.test_file_serving import contact_avatar

STRANGER = "https://evil.example"


def preflight(origin: str, headers: str = "authorization, content-type") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": headers,
    }


@pytest.mark.parametrize(
    "headers",
    [
        "authorization, content-type",
        "apollo-require-preflight, authorization, content-type",  # an upload
        "x-graphql-event-stream-token, content-type",  # graphql-sse, single connection mode
    ],
)
async def test_a_preflight_from_an_allowed_origin_answers_204(
    client: httpx.AsyncClient, headers: str
) -> None:
    response = await client.options("/graphql", headers=preflight(FRONTEND_ORIGIN, headers))
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == FRONTEND_ORIGIN
    allowed = response.headers["access-control-allow-headers"].lower()
    assert all(name.strip() in allowed for name in headers.split(","))
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in response.headers


async def test_a_preflight_from_another_origin_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.options("/graphql", headers=preflight(STRANGER))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_answers_carry_cors_headers_compiled_or_not(
    client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    headers = {"Origin": FRONTEND_ORIGIN, "Authorization": f"Bearer {gql.token}"}
    for query in ("{ contacts(first: 1) { totalCount } }", "{ me { username } }"):
        response = await client.post("/graphql", json={"query": query}, headers=headers)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == FRONTEND_ORIGIN
        assert "Origin" in response.headers["vary"]
    foreign = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": STRANGER}
    )
    assert "access-control-allow-origin" not in foreign.headers


async def test_files_expose_what_clients_read(
    client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    avatar = await contact_avatar(client, gql)
    response = await client.get(
        avatar["url"], headers={"Origin": FRONTEND_ORIGIN, "Range": "bytes=0-9"}
    )
    assert response.status_code == 206
    assert response.headers["access-control-allow-origin"] == FRONTEND_ORIGIN
    exposed = response.headers["access-control-expose-headers"].lower()
    for name in ("etag", "content-range", "accept-ranges", "content-length", "content-disposition"):
        assert name in exposed


def test_the_embedded_default_allows_localhost_on_any_port() -> None:
    embedded = CorsPolicy.from_settings(load_settings(database_url="", secret_key="x" * 40))
    for origin in ("http://localhost:5173", "http://127.0.0.1:3000", "https://localhost"):
        assert embedded.allows(origin), origin
    for origin in ("http://localhost.evil.example", "https://evil.example", "http://10.0.0.1"):
        assert not embedded.allows(origin), origin
    production = CorsPolicy.from_settings(
        load_settings(database_url="postgresql://x@h/db", secret_key="x" * 40)
    )
    assert not production.allows("http://localhost:5173")
    patterned = CorsPolicy.from_settings(
        load_settings(
            database_url="postgresql://x@h/db",
            secret_key="x" * 40,
            cors_origin_regex=r"https://[a-z]+\.example\.com",
        )
    )
    assert patterned.allows("https://app.example.com")
    assert not patterned.allows("https://app.example.com.evil.example")


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"cors_origins": ["*"], "cors_allow_credentials": True}, "CORS_ALLOW_CREDENTIALS"),
        ({"cors_origin_regex": "(unclosed"}, "CORS_ORIGIN_REGEX"),
    ],
)
def test_unsafe_or_broken_cors_settings_are_refused(
    overrides: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        load_settings(database_url="", secret_key="x" * 40, **overrides)


def test_origins_are_read_as_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "http://a.test/, https://b.test:8443")
    settings: Settings = load_settings(database_url="", secret_key="x" * 40)
    assert settings.cors_origins == ["http://a.test", "https://b.test:8443"]
    monkeypatch.setenv("CORS_ORIGINS", '["http://c.test"]')
    assert load_settings(database_url="", secret_key="x" * 40).cors_origins == ["http://c.test"]


async def test_websockets_follow_the_same_policy(live_server: str) -> None:
    """The live embedded server allows FRONTEND_ORIGIN and localhost; not a stranger."""
    url = live_server.replace("http://", "ws://") + "/graphql"
    for origin in (FRONTEND_ORIGIN, "http://localhost:5173"):
        async with websockets.connect(
            url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            origin=origin,  # type: ignore[arg-type]
        ) as socket:
            await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await socket.recv())["type"] == "connection_ack"
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(
            url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            origin=STRANGER,  # type: ignore[arg-type]
        ):
            pass
    assert refused.value.response.status_code == 403
