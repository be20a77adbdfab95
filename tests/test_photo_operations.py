"""Captions, reordering, moving, replacing and deleting photos; files go with their rows."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from starlette.applications import Starlette

from app.config import Settings
from tests import images
from tests.conftest import GraphQLClient, user_token
from tests.test_uploads import ADD_PHOTOS, blob_path, blobs, new_album
from tests.uploads import upload

PHOTOS = """
query($id: ID!) {
  album(id: $id) { photoCount photos { nodes { id caption sort file { sha256 } } } }
}
"""


async def album_with(
    client: httpx.AsyncClient, gql: GraphQLClient, count: int, title: str = "A"
) -> tuple[str, list[dict[str, Any]]]:
    album_id = await new_album(gql, title)
    files = {str(i): (f"{i}.png", images.png(8, 8, (i, i, 200)), "image/png") for i in range(count)}
    response = await upload(
        client,
        ADD_PHOTOS,
        {"albumId": album_id, "files": [None] * count, "captions": [f"p{i}" for i in range(count)]},
        files,
        {str(i): [f"variables.files.{i}"] for i in range(count)},
        token=gql.token,
    )
    assert response.json()["data"]["addPhotos"]["userErrors"] == []
    return album_id, (await gql.data(PHOTOS, id=album_id))["album"]["photos"]["nodes"]


def captions(nodes: list[dict[str, Any]]) -> list[str]:
    return [n["caption"] for n in nodes]


async def test_update_caption(client: httpx.AsyncClient, gql: GraphQLClient) -> None:
    _album_id, photos = await album_with(client, gql, 1)
    updated = await gql.data(
        'mutation($id: ID!) { updatePhoto(input: {id: $id, caption: "  sunset "}) '
        "{ photo { caption } userErrors { code } } }",
        id=photos[0]["id"],
    )
    assert updated["updatePhoto"] == {"photo": {"caption": "sunset"}, "userErrors": []}
    too_long = await gql.data(
        "mutation($id: ID!, $c: String) { updatePhoto(input: {id: $id, caption: $c}) "
        "{ userErrors { field code } } }",
        id=photos[0]["id"],
        c="x" * 2001,
    )
    assert too_long["updatePhoto"]["userErrors"] == [{"field": "caption", "code": "TOO_LONG"}]


async def test_reorder_needs_a_full_permutation(
    client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    album_id, photos = await album_with(client, gql, 3)
    ids = [p["id"] for p in photos]
    reorder = (
        "mutation($a: ID!, $ids: [ID!]!) { reorderPhotos(input: {albumId: $a, photoIds: $ids}) "
        "{ photos { caption } userErrors { field code } } }"
    )
    for bad in (ids[:2], ids + ids[:1], [ids[0], ids[0], ids[1]]):
        result = (await gql.data(reorder, a=album_id, ids=bad))["reorderPhotos"]
        assert result["userErrors"] == [{"field": "photoIds", "code": "INVALID_VALUE"}]
    result = (await gql.data(reorder, a=album_id, ids=[ids[2], ids[0], ids[1]]))["reorderPhotos"]
    assert captions(result["photos"]) == ["p2", "p0", "p1"]
    nodes = (await gql.data(PHOTOS, id=album_id))["album"]["photos"]["nodes"]
    assert captions(nodes) == ["p2", "p0", "p1"]
    assert [n["sort"] for n in nodes] == [0, 1, 2]


async def test_move_photo_between_albums(client: httpx.AsyncClient, gql: GraphQLClient) -> None:
    source, photos = await album_with(client, gql, 3, "source")
    target, _ = await album_with(client, gql, 2, "target")
    move = (
        "mutation($id: ID!, $to: ID!, $at: Int) { movePhoto(input: {id: $id, toAlbumId: $to, "
        "position: $at}) { photo { sort album { title } } userErrors { field code } } }"
    )
    moved = (await gql.data(move, id=photos[1]["id"], to=target, at=1))["movePhoto"]
    assert moved == {"photo": {"sort": 1, "album": {"title": "target"}}, "userErrors": []}
    left = (await gql.data(PHOTOS, id=source))["album"]["photos"]["nodes"]
    assert [(n["caption"], n["sort"]) for n in left] == [("p0", 0), ("p2", 1)]
    right = (await gql.data(PHOTOS, id=target))["album"]["photos"]["nodes"]
    assert [(n["caption"], n["sort"]) for n in right] == [("p0", 0), ("p1", 1), ("p1", 2)]
    last = (await gql.data(move, id=photos[0]["id"], to=target, at=99))["movePhoto"]
    assert last["photo"]["sort"] == 3
    within = (await gql.data(move, id=photos[2]["id"], to=source, at=0))["movePhoto"]
    assert within["photo"]["sort"] == 0
    negative = (await gql.data(move, id=photos[2]["id"], to=source, at=-1))["movePhoto"]
    assert negative["userErrors"] == [{"field": "position", "code": "INVALID_VALUE"}]


async def test_replace_and_delete_collect_blobs(
    client: httpx.AsyncClient, gql: GraphQLClient, backend_settings: Settings
) -> None:
    album_id, photos = await album_with(client, gql, 2)
    old_sha = photos[0]["file"]["sha256"]
    new_content = images.png(9, 9, (0, 255, 0))
    response = await upload(
        client,
        "mutation($id: ID!, $file: Upload!) { replacePhotoFile(input: {id: $id, file: $file}) "
        "{ photo { caption file { sha256 width } } userErrors { code } } }",
        {"id": photos[0]["id"], "file": None},
        {"0": ("new.png", new_content, "image/png")},
        {"0": ["variables.file"]},
        token=gql.token,
    )
    replaced = response.json()["data"]["replacePhotoFile"]
    assert replaced["photo"]["caption"] == "p0"
    assert replaced["photo"]["file"]["sha256"] == hashlib.sha256(new_content).hexdigest()
    assert not blob_path(backend_settings, "albums.photos", old_sha).exists()

    deleted = await gql.data(
        "mutation($id: ID!) { deletePhoto(input: {id: $id}) "
        "{ deletedPhotoId album { photoCount } userErrors { code } } }",
        id=photos[1]["id"],
    )
    assert deleted["deletePhoto"]["album"] == {"photoCount": 1}
    assert not blob_path(backend_settings, "albums.photos", photos[1]["file"]["sha256"]).exists()

    await gql.data(
        "mutation($id: ID!) { deleteAlbum(input: {id: $id}) { deletedAlbumId } }", id=album_id
    )
    assert blobs(backend_settings, "albums.photos") == []


async def test_users_set_and_remove_their_own_avatar(
    app: Starlette, client: httpx.AsyncClient, backend_settings: Settings
) -> None:
    token = await user_token(app, "selfie", "viewer")
    response = await upload(
        client,
        "mutation($file: Upload!) { setMyAvatar(input: {file: $file}) "
        "{ user { username avatar { entity width } } userErrors { code } } }",
        {"file": None},
        {"0": ("me.jpg", images.jpeg(16, 8), "image/jpeg")},
        {"0": ["variables.file"]},
        token=token,
    )
    assert response.json()["data"]["setMyAvatar"]["user"] == {
        "username": "selfie",
        "avatar": {"entity": "users.avatar", "width": 16},
    }
    me = GraphQLClient(client, token)
    assert (await me.data("{ me { avatar { width } } }"))["me"]["avatar"] == {"width": 16}
    await me.data("mutation { removeMyAvatar { user { avatar { id } } } }")
    assert (await me.data("{ me { avatar { width } } }"))["me"]["avatar"] is None
    assert blobs(backend_settings, "users.avatar") == []
