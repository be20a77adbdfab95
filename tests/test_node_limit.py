"""Operations that could return too many nodes are refused before any SQL runs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.conftest import StatementCounter, as_admin

NESTED = """
query($albums: Int, $photos: Int) {
  albums(first: $albums) { nodes { photos(first: $photos) { nodes { id } } } }
}
"""


@pytest.fixture
async def client(app: Starlette, client: httpx.AsyncClient) -> httpx.AsyncClient:
    return await as_admin(app, client)


async def _post(client: httpx.AsyncClient, query: str, **variables: Any) -> httpx.Response:
    return await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Accept": "application/graphql-response+json"},
    )


async def test_nested_pages_multiply_and_are_refused_past_the_limit(
    client: httpx.AsyncClient, sql_counter: StatementCounter
) -> None:
    response = await _post(client, NESTED, albums=100, photos=100)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "nodes",
        "estimatedNodes": 100 + 100 * 100,
        "maxNodes": 10_000,
    }
    assert sql_counter.count == 0


@pytest.mark.parametrize(("albums", "photos"), [(20, 50), (100, 99), (None, None)])
async def test_operations_within_the_limit_run(
    client: httpx.AsyncClient, albums: int | None, photos: int | None
) -> None:
    response = await _post(client, NESTED, albums=albums, photos=photos)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"albums": {"nodes": []}}}


async def test_fragments_and_aliases_count_too(client: httpx.AsyncClient) -> None:
    query = """
    query {
      a: albums(first: 100) { ...Photos }
      b: albums(first: 100) { ...Photos }
    }
    fragment Photos on AlbumConnection { nodes { photos(first: 60) { totalCount } } }
    """
    response = await _post(client, query)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["estimatedNodes"] == 2 * (100 + 6000)


async def test_validation_is_cached_across_requests(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """Each document text is validated once: the limits' rules are built once, and the
    compiled path and the resolvers share the cache."""
    documents = app.state.graphql.schema.documents
    # viewerCanEdit keeps it on Strawberry's path (the compiled path validates once per
    # document)
    query = "query CacheProbe { contacts(first: 3) { totalCount nodes { viewerCanEdit } } }"
    await _post(client, query)
    hits, misses = documents.hits, documents.misses
    for _ in range(3):
        assert (await _post(client, query)).status_code == 200
    assert (documents.hits - hits, documents.misses - misses) == (3, 0)
