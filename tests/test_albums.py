"""Albums and their photo connections over GraphQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette

from app.db.models import Photo, StoredFile
from schema.ids import to_global_id
from tests.conftest import GraphQLClient
from tests.factories import add, album_with_photos, stored_file

CREATE = """
mutation($input: CreateAlbumInput!) {
  createAlbum(input: $input) {
    album { id title description photoCount photos { totalCount edges { cursor } } }
    userErrors { field message code }
  }
}
"""
UPDATE = """
mutation($input: UpdateAlbumInput!) {
  updateAlbum(input: $input) { album { id title description } userErrors { field code } }
}
"""
DELETE = """
mutation($input: DeleteAlbumInput!) {
  deleteAlbum(input: $input) { deletedAlbumId userErrors { field code } }
}
"""
PHOTOS = """
query($id: ID!, $first: Int, $after: String, $last: Int, $before: String,
      $orderBy: PhotoOrder! = SORT_ASC) {
  album(id: $id) {
    title
    photoCount
    photos(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) {
      totalCount
      edges { cursor node { caption sort album { title } file { filename contentType size } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""


def captions(album: dict[str, Any]) -> list[str]:
    return [edge["node"]["caption"] for edge in album["photos"]["edges"]]


async def test_create_update_delete_album(gql: GraphQLClient) -> None:
    payload = (await gql.data(CREATE, input={"title": "Holidays", "description": "2026"}))[
        "createAlbum"
    ]
    assert payload["userErrors"] == []
    album = payload["album"]
    assert album["photoCount"] == 0
    assert album["photos"] == {"totalCount": 0, "edges": []}

    updated = (await gql.data(UPDATE, input={"id": album["id"], "description": None}))[
        "updateAlbum"
    ]
    assert updated["album"] == {"id": album["id"], "title": "Holidays", "description": None}

    deleted = (await gql.data(DELETE, input={"id": album["id"]}))["deleteAlbum"]
    assert deleted == {"deletedAlbumId": album["id"], "userErrors": []}
    assert (await gql.data("{ albums { totalCount } }"))["albums"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("fields", "expected"),
    [({"title": ""}, "REQUIRED"), ({"title": "t" * 201}, "TOO_LONG")],
)
async def test_album_validation(gql: GraphQLClient, fields: dict[str, str], expected: str) -> None:
    payload = (await gql.data(CREATE, input=fields))["createAlbum"]
    assert payload["album"] is None
    assert payload["userErrors"][0]["code"] == expected


async def test_albums_search_and_order(gql: GraphQLClient) -> None:
    for title in ("Zoo", "beach_2026", "Beach 50%", "City"):
        await gql.data(CREATE, input={"title": title})
    listed = await gql.data(
        'query { albums(filter: {search: "beach"}, orderBy: TITLE_DESC) { nodes { title } } }'
    )
    assert [n["title"] for n in listed["albums"]["nodes"]] == ["beach_2026", "Beach 50%"]
    listed = await gql.data('query { albums(filter: {search: "0%"}) { nodes { title } } }')
    assert [n["title"] for n in listed["albums"]["nodes"]] == ["Beach 50%"]


async def test_photos_come_in_sort_order_with_files(app: Starlette, gql: GraphQLClient) -> None:
    album = await album_with_photos(app, "Trip", 5)
    data = (await gql.data(PHOTOS, id=to_global_id("Album", album.id), first=3))["album"]
    assert data["photoCount"] == 5
    assert data["photos"]["totalCount"] == 5
    assert captions(data) == ["#0", "#1", "#2"]
    first = data["photos"]["edges"][0]["node"]
    assert first["album"] == {"title": "Trip"}
    assert first["file"]["filename"] == "Trip-0.jpg"
    assert data["photos"]["pageInfo"]["hasNextPage"] is True

    after = data["photos"]["pageInfo"]["endCursor"]
    rest = (await gql.data(PHOTOS, id=to_global_id("Album", album.id), first=3, after=after))[
        "album"
    ]
    assert captions(rest) == ["#3", "#4"]
    assert rest["photos"]["pageInfo"]["hasNextPage"] is False
    assert rest["photos"]["pageInfo"]["hasPreviousPage"] is True

    backwards = (await gql.data(PHOTOS, id=to_global_id("Album", album.id), last=2))["album"]
    assert captions(backwards) == ["#3", "#4"]
    assert backwards["photos"]["pageInfo"]["hasPreviousPage"] is True

    descending = (
        await gql.data(PHOTOS, id=to_global_id("Album", album.id), first=2, orderBy="SORT_DESC")
    )["album"]
    assert captions(descending) == ["#4", "#3"]


async def test_photo_pages_of_many_albums_stay_separate(app: Starlette, gql: GraphQLClient) -> None:
    await album_with_photos(app, "A", 3)
    await album_with_photos(app, "B", 1)
    await album_with_photos(app, "C", 0)
    data = await gql.data(
        "{ albums { nodes { title photoCount"
        " photos(first: 2) { totalCount nodes { caption } } } } }"
    )
    assert [
        (a["title"], a["photoCount"], a["photos"]["totalCount"], len(a["photos"]["nodes"]))
        for a in data["albums"]["nodes"]
    ] == [("A", 3, 3, 2), ("B", 1, 1, 1), ("C", 0, 0, 0)]


async def test_deleting_an_album_takes_its_photos(app: Starlette, gql: GraphQLClient) -> None:
    album = await album_with_photos(app, "Gone", 3)
    await gql.data(DELETE, input={"id": to_global_id("Album", album.id)})
    async with app.state.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Photo)) == 0
        assert await session.scalar(select(func.count()).select_from(StoredFile)) == 0


async def test_a_file_used_by_a_photo_cannot_be_deleted(app: Starlette) -> None:
    album = await album_with_photos(app, "Kept", 1)
    async with app.state.db.session() as session:
        photo = (await session.scalars(select(Photo).where(Photo.album_id == album.id))).one()
        file_row = await session.get(StoredFile, photo.file_id)
        await session.delete(file_row)
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_deleting_an_avatar_file_clears_the_avatar(
    app: Starlette, gql: GraphQLClient
) -> None:
    from tests.factories import contact_with_avatar

    contact = await contact_with_avatar(app, "Pic")
    async with app.state.db.session() as session, session.begin():
        await session.delete(await session.get(StoredFile, contact.avatar_id))
    data = await gql.data(
        "query($id: ID!) { contact(id: $id) { avatar { id } } }",
        id=to_global_id("Contact", contact.id),
    )
    assert data["contact"] == {"avatar": None}


async def test_photo_cursor_from_another_order_is_refused(
    app: Starlette, gql: GraphQLClient
) -> None:
    album = await album_with_photos(app, "Mixed", 2)
    cursor = (await gql.data(PHOTOS, id=to_global_id("Album", album.id), first=1))["album"][
        "photos"
    ]["pageInfo"]["endCursor"]
    body = await gql(PHOTOS, id=to_global_id("Album", album.id), after=cursor, orderBy="SORT_DESC")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_stored_file_size_beyond_32_bits(app: Starlette, gql: GraphQLClient) -> None:
    big = stored_file("albums.photos", "huge.tif", size=5 * 2**30, content_type="image/tiff")
    await add(app, big)
    data = await gql.data(
        "query($id: ID!) { node(id: $id) { ... on StoredFile { size filename } } }",
        id=to_global_id("StoredFile", big.id),
    )
    assert data["node"] == {"size": 5 * 2**30, "filename": "huge.tif"}
