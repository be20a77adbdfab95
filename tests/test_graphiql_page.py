"""What /graphql answers a browser, without one (tests/test_graphiql_browser.py drives the
page itself): the subscription client is vendored and checksummed."""

from __future__ import annotations

import hashlib

import httpx

from app.http.graphiql import GRAPHIQL_ASSETS_DIR

CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)


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
