"""What /graphql and /favicon.ico answer a browser, without one (tests/test_graphiql_browser.py
drives the page itself): a link with a query opens GraphiQL instead of running it, while
GraphQL clients asking for JSON still get GET executed; the page reflects nothing from the URL;
the subscription client is vendored and checksummed; the favicon is an icon."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from app.config import Settings
from app.http.graphiql import GRAPHIQL_ASSETS_DIR
from app.http.graphql import prefers_html
from app.server import create_app

CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SAFARI = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
LINK = urlencode(
    {
        "query": "query Linked($n: Int!) { albums(first: $n) { totalCount } } </script><b>",
        "variables": '{"n": 1}',
        "operationName": "Linked",
    }
)
TYPENAME_LINK = urlencode({"query": "{ __typename }"})


@pytest.mark.parametrize(
    "accept", [CHROME, FIREFOX, SAFARI, "text/html", "text/*;q=0.9, */*;q=0.1"]
)
def test_browsers_following_a_link_prefer_html(accept: str) -> None:
    assert prefers_html(accept)


@pytest.mark.parametrize(
    "accept",
    [
        "",
        "*/*",
        "application/json",
        "application/graphql-response+json, application/json;q=0.9",
        "text/html;q=0.5, application/json",
        "text/html, application/json",
        "application/*, text/html",
        "text/html;q=0",
        "text/html, */*",
        "text/html;q=0.1, */*",
    ],
)
def test_graphql_clients_do_not(accept: str) -> None:
    assert not prefers_html(accept)


async def test_a_browser_link_opens_graphiql_and_reflects_nothing(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.get("/graphql", headers={"accept": CHROME})
    linked = await client.get(f"/graphql?{LINK}", headers={"accept": CHROME})
    assert linked.status_code == 200
    assert linked.headers["content-type"].startswith("text/html")
    assert "Accept" in linked.headers["vary"]  # (and Origin, for CORS)
    assert '<div id="graphiql">' in linked.text
    # The page reads the link in the browser: the HTML is the same with or without it.
    assert linked.text == plain.text
    assert "Linked" not in linked.text and "</script><b>" not in linked.text


@pytest.mark.parametrize(
    "accept",
    ["application/json", "application/graphql-response+json", "*/*", "text/html;q=0.1, */*"],
)
async def test_the_same_link_runs_for_graphql_clients(
    client: httpx.AsyncClient, accept: str
) -> None:
    """GraphQL over HTTP: GET with a query is executed for a client that accepts JSON."""
    browser = await client.get(f"/graphql?{TYPENAME_LINK}", headers={"accept": CHROME})
    assert browser.headers["content-type"].startswith("text/html")
    response = await client.get(f"/graphql?{TYPENAME_LINK}", headers={"accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/")
    assert response.json() == {"data": {"__typename": "Query"}}
    assert "Accept" in response.headers["vary"]  # (and Origin, for CORS)


@pytest.fixture
async def no_graphiql(backend_settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(backend_settings.model_copy(update={"graphiql": False}))
    yield application
    await application.state.services.close()


async def test_without_graphiql_a_browser_link_runs_the_query(
    client: httpx.AsyncClient, no_graphiql: Starlette
) -> None:
    """GRAPHIQL=false: no IDE to open, so the link is executed as before (not a 404)."""
    with_ide = await client.get(f"/graphql?{TYPENAME_LINK}", headers={"accept": CHROME})
    assert with_ide.headers["content-type"].startswith("text/html")
    transport = httpx.ASGITransport(app=no_graphiql)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get(f"/graphql?{TYPENAME_LINK}", headers={"accept": CHROME})
        assert response.status_code == 200
        assert response.json() == {"data": {"__typename": "Query"}}
        assert (await http.get("/graphql", headers={"accept": CHROME})).status_code == 404


async def test_the_page_loads_the_vendored_checksummed_graphql_ws(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/graphql", headers={"accept": CHROME})).text
    assert '<script src="/graphiql/static/graphql-ws.min.js" integrity="sha384-' in page
    lines = (GRAPHIQL_ASSETS_DIR / "SHA256SUMS").read_text().splitlines()
    sums = {name: digest for digest, name in (line.split() for line in lines)}
    content = (GRAPHIQL_ASSETS_DIR / "graphql-ws.min.js").read_bytes()
    assert sums["graphql-ws.min.js"] == hashlib.sha256(content).hexdigest()
    assert (GRAPHIQL_ASSETS_DIR / "LICENSE.graphql-ws").read_text().startswith("MIT License")
    served = await client.get("/graphiql/static/graphql-ws.min.js")
    assert served.status_code == 200 and served.content == content


async def test_favicon_is_a_small_cacheable_icon(client: httpx.AsyncClient) -> None:
    response = await client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/x-icon"
    assert "max-age" in response.headers["cache-control"]
    icon = Image.open(io.BytesIO(response.content))
    assert icon.format == "ICO"
    assert icon.info["sizes"] == {(16, 16), (32, 32)}
    assert len(response.content) < 4096

    head = await client.head("/favicon.ico")
    assert head.status_code == 200 and head.content == b""
