"""Relations load in batches: statements per request do not grow with the nodes returned.

These pin the resolvers' batching, so the compiled read path (one statement, see
tests/test_compiled_reads.py) and the viewer cache are switched off here.
"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from tests.conftest import GraphQLClient, StatementCounter
from tests.factories import album_with_photos, contact_with_avatar

CONTACTS = """
query($first: Int!) {
  contacts(first: $first) {
    edges { node { id name avatar { id filename contentType size width height } } }
  }
}
"""
NESTED = """
query($first: Int!) {
  albums(first: $first) {
    totalCount
    nodes {
      title photoCount
      cover { caption file { url } }
      firstTwo: photos(first: 2) { nodes { file { filename } } }
      photos(first: 10) {
        totalCount
        edges { node { caption album { title } file { filename width height } } }
        pageInfo { hasNextPage }
      }
    }
  }
}
"""


@pytest.fixture(autouse=True)
def _resolvers_only(app: Starlette, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.state.graphql, "compiled", None)
    monkeypatch.setattr(app.state.services.auth.viewers, "ttl", 0)  # grants counted each time


async def _statements(gql: GraphQLClient, counter: StatementCounter, query: str, first: int) -> int:
    counter.reset()
    await gql.data(query, first=first)
    return counter.count


async def test_contact_list_with_avatars_is_two_statements(
    app: Starlette, gql: GraphQLClient, sql_counter: StatementCounter
) -> None:
    for i in range(30):
        await contact_with_avatar(app, f"person {i:02d}")
    small = await _statements(gql, sql_counter, CONTACTS, 2)
    large = await _statements(gql, sql_counter, CONTACTS, 30)
    # the viewer's grants, the contacts, their avatars
    assert small == large == 3, sql_counter.statements


async def test_nested_albums_photos_files_do_not_grow_with_nodes(
    app: Starlette, gql: GraphQLClient, sql_counter: StatementCounter
) -> None:
    for i in range(12):
        await album_with_photos(app, f"album {i:02d}", 6)
    small = await _statements(gql, sql_counter, NESTED, 1)
    large = await _statements(gql, sql_counter, NESTED, 12)
    # the viewer's grants, albums, their count, photo counts, photo pages (three windows:
    # cover, firstTwo, photos), files (twice: the windows sit at different depths);
    # photo.album comes from the primed cache
    assert small == large == 9, "\n".join(s.split("\n")[0][:90] for s in sql_counter.statements)
