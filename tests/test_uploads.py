"""Uploads through real multipart HTTP requests: avatars, photo lists, and every refusal."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.config import Settings
from app.server import create_app
from tests import images
from tests.conftest import GraphQLClient, user_token
from tests.uploads import upload

SET_AVATAR = """
mutation($contactId: ID!, $file: Upload!) {
  setContactAvatar(input: {contactId: $contactId, file: $file}) {
    contact { id avatar { id entity filename contentType size sha256 width height url } }
    userErrors { field message code }
  }
}
"""
ADD_PHOTOS = """
mutation($albumId: ID!, $files: [Upload!]!, $captions: [String]) {
  addPhotos(input: {albumId: $albumId, files: $files, captions: $captions}) {
    album { photoCount cover { caption } }
    photos { id caption sort file { filename contentType width height } }
    userErrors { field message code }
  }
}
"""


async def new_contact(gql: GraphQLClient, name: str = "Pic Person") -> str:
    data = await gql.data(
        "mutation($n: String!) { createContact(input: {name: $n}) { contact { id } } }", n=name
    )
    return str(data["createContact"]["contact"]["id"])


async def new_album(gql: GraphQLClient, title: str = "Trip") -> str:
    data = await gql.data(
        "mutation($t: String!) { createAlbum(input: {title: $t}) { album { id } } }", t=title
    )
    return str(data["createAlbum"]["album"]["id"])


async def set_avatar(
    client: httpx.AsyncClient, token: str, contact_id: str, content: bytes, name: str = "me.png"
) -> dict[str, Any]:
    response = await upload(
        client,
        SET_AVATAR,
        {"contactId": contact_id, "file": None},
        {"0": (name, content, "image/png")},
        {"0": ["variables.file"]},
        token=token,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def blob_path(settings: Settings, entity: str, sha256: str) -> Path:
    return settings.files_root / entity / sha256[:2] / sha256[2:4] / sha256


def blobs(settings: Settings, entity: str) -> list[Path]:
    directory = settings.files_root / entity
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


def temp_files(settings: Settings) -> list[Path]:
    directory = settings.files_root / ".tmp"
    return list(directory.iterdir()) if directory.exists() else []


async def test_set_contact_avatar_stores_and_describes_the_image(
    app: Starlette, client: httpx.AsyncClient, gql: GraphQLClient, backend_settings: Settings
) -> None:
    contact_id = await new_contact(gql)
    content = images.png(64, 48)
    body = await set_avatar(client, str(gql.token), contact_id, content, "Portrait.PNG")
    payload = body["data"]["setContactAvatar"]
    assert payload["userErrors"] == []
    avatar = payload["contact"]["avatar"]
    digest = hashlib.sha256(content).hexdigest()
    assert avatar | {"id": None, "url": None} == {
        "id": None,
        "entity": "contacts.avatar",
        "filename": "Portrait.PNG",
        "contentType": "image/png",
        "size": len(content),
        "sha256": digest,
        "width": 64,
        "height": 48,
        "url": None,
    }
    assert blob_path(backend_settings, "contacts.avatar", digest).read_bytes() == content
    assert temp_files(backend_settings) == []


async def test_replacing_and_removing_an_avatar_collects_old_blobs(
    client: httpx.AsyncClient, gql: GraphQLClient, backend_settings: Settings
) -> None:
    contact_id = await new_contact(gql)
    first, second = images.png(color=(1, 2, 3)), images.png(color=(4, 5, 6))
    await set_avatar(client, str(gql.token), contact_id, first)
    await set_avatar(client, str(gql.token), contact_id, second)
    old = blob_path(backend_settings, "contacts.avatar", hashlib.sha256(first).hexdigest())
    new = blob_path(backend_settings, "contacts.avatar", hashlib.sha256(second).hexdigest())
    assert not old.exists() and new.exists()
    removed = await gql.data(
        "mutation($id: ID!) { removeContactAvatar(input: {contactId: $id}) "
        "{ contact { avatar { id } } userErrors { code } } }",
        id=contact_id,
    )
    assert removed["removeContactAvatar"] == {"contact": {"avatar": None}, "userErrors": []}
    assert not new.exists()


async def test_identical_content_is_stored_once_and_kept_while_used(
    client: httpx.AsyncClient, gql: GraphQLClient, backend_settings: Settings
) -> None:
    content = images.png(color=(9, 9, 9))
    blob = blob_path(backend_settings, "contacts.avatar", hashlib.sha256(content).hexdigest())
    first, second = await new_contact(gql, "One"), await new_contact(gql, "Two")
    await set_avatar(client, str(gql.token), first, content)
    await set_avatar(client, str(gql.token), second, content)
    delete = "mutation($id: ID!) { deleteContact(input: {id: $id}) { deletedContactId } }"
    await gql.data(delete, id=first)
    assert blob.exists()  # the second contact still uses it
    await gql.data(delete, id=second)
    assert not blob.exists()


async def test_add_photos_keeps_order_captions_and_kinds(
    client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    album_id = await new_album(gql)
    files = {
        "0": ("a.png", images.png(10, 10), "image/png"),
        "1": ("b.jpg", images.jpeg(30, 20, orientation=6), "image/jpeg"),  # shown rotated
        "2": ("c.gif", images.animated_gif(), "image/gif"),
        "3": ("d.webp", images.webp(), "image/webp"),
    }
    response = await upload(
        client,
        ADD_PHOTOS,
        {"albumId": album_id, "files": [None] * 4, "captions": ["first", None, "third"]},
        files,
        {str(i): [f"variables.files.{i}"] for i in range(4)},
        token=gql.token,
    )
    payload = response.json()["data"]["addPhotos"]
    assert payload["userErrors"] == []
    assert payload["album"] == {"photoCount": 4, "cover": {"caption": "first"}}
    assert [(p["caption"], p["sort"]) for p in payload["photos"]] == [
        ("first", 0),
        (None, 1),
        ("third", 2),
        (None, 3),
    ]
    assert [
        (p["file"]["contentType"], p["file"]["width"], p["file"]["height"])
        for p in payload["photos"]
    ] == [
        ("image/png", 10, 10),
        ("image/jpeg", 20, 30),
        ("image/gif", 32, 32),
        ("image/webp", 20, 10),
    ]


async def test_add_photos_is_all_or_nothing(
    client: httpx.AsyncClient, gql: GraphQLClient, backend_settings: Settings
) -> None:
    album_id = await new_album(gql)
    response = await upload(
        client,
        ADD_PHOTOS,
        {"albumId": album_id, "files": [None, None]},
        {
            "0": ("good.png", images.png(), "image/png"),
            "1": ("bad.png", b"not an image", "image/png"),
        },
        {"0": ["variables.files.0"], "1": ["variables.files.1"]},
        token=gql.token,
    )
    payload = response.json()["data"]["addPhotos"]
    assert payload["photos"] == []
    assert payload["userErrors"] == [
        {
            "field": "files.1",
            "message": "the file is not an image we can read",
            "code": "INVALID_FILE",
        }
    ]
    count = await gql.data("query($id: ID!) { album(id: $id) { photoCount } }", id=album_id)
    assert count["album"]["photoCount"] == 0
    assert blobs(backend_settings, "albums.photos") == []
    assert temp_files(backend_settings) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"plain text pretending", "the file is not an image we can read"),
        (images.SVG, "the file is not an image we can read"),
        (images.HTML, "the file is not an image we can read"),
        (images.png()[:60], "the image is damaged or truncated"),
        (images.png_claiming(100_000, 100_000), "at most 50000000 pixels are accepted"),
        (b"", "the file is empty"),
    ],
)
async def test_files_are_judged_by_their_bytes(
    client: httpx.AsyncClient,
    gql: GraphQLClient,
    backend_settings: Settings,
    content: bytes,
    message: str,
) -> None:
    contact_id = await new_contact(gql)
    body = await set_avatar(client, str(gql.token), contact_id, content, "innocent.png")
    (error,) = body["data"]["setContactAvatar"]["userErrors"]
    assert error["code"] == "INVALID_FILE"
    assert message in error["message"]
    assert blobs(backend_settings, "contacts.avatar") == []
    assert temp_files(backend_settings) == []


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("C:\\\\Users\\\\me\\\\photo.png", "photo.png"),
        ("bad\x1bname\x7f.png", "badname.png"),
        ("CON.png", "_CON.png"),
        ("...", "file.png"),
        ("x" * 300 + ".png", "x" * 196 + ".png"),
        ("we<i>rd|?*.png", "we_i_rd___.png"),
    ],
)
async def test_filenames_are_sanitised_for_display(
    client: httpx.AsyncClient, gql: GraphQLClient, sent: str, kept: str
) -> None:
    contact_id = await new_contact(gql)
    body = await set_avatar(client, str(gql.token), contact_id, images.png(), sent)
    assert body["data"]["setContactAvatar"]["contact"]["avatar"]["filename"] == kept


async def test_multipart_without_a_preflight_header_is_refused(
    client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    contact_id = await new_contact(gql)
    response = await upload(
        client,
        SET_AVATAR,
        {"contactId": contact_id, "file": None},
        {"0": ("a.png", images.png(), "image/png")},
        {"0": ["variables.file"]},
        token=gql.token,
        headers={},
    )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "Apollo-Require-Preflight" in error["message"]
    assert "cross-site request forgery" in error["message"]


async def test_an_upload_variable_sent_as_json_is_bad_user_input(gql: GraphQLClient) -> None:
    contact_id = await new_contact(gql)
    body = await gql(SET_AVATAR, contactId=contact_id, file="aGVsbG8=")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "multipart" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("mapping", "files", "message"),
    [
        ({"0": ["variables.file"]}, {}, "was not sent"),
        (
            {"0": ["variables.nope"]},
            {"0": ("a.png", b"x", "image/png")},
            "does not point at a null",
        ),
        ({"0": ["query"]}, {"0": ("a.png", b"x", "image/png")}, "must point into variables"),
        ({}, {"0": ("a.png", b"x", "image/png")}, "not in the map"),
        ({"0": "variables.file"}, {"0": ("a.png", b"x", "image/png")}, "the map must look like"),
    ],
)
async def test_malformed_multipart_requests_are_400(
    client: httpx.AsyncClient,
    gql: GraphQLClient,
    backend_settings: Settings,
    mapping: dict[str, Any],
    files: dict[str, tuple[str, bytes, str]],
    message: str,
) -> None:
    response = await upload(
        client, SET_AVATAR, {"contactId": "x", "file": None}, files, mapping, token=gql.token
    )
    assert response.status_code == 400, response.text
    assert message in response.json()["errors"][0]["message"]
    assert temp_files(backend_settings) == []


async def test_files_before_operations_are_refused(
    client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="0"; filename="a.png"\r\n'
        f"Content-Type: image/png\r\n\r\nxxxx\r\n--{boundary}--\r\n"
    ).encode()
    response = await client.post(
        "/graphql",
        content=body,
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Apollo-Require-Preflight": "1",
            "Authorization": f"Bearer {gql.token}",
        },
    )
    assert response.status_code == 400
    assert "must come before the files" in response.json()["errors"][0]["message"]


@pytest.fixture
async def small_app(backend_settings: Settings) -> AsyncIterator[Starlette]:
    """Tiny limits, to refuse oversized uploads without sending megabytes."""
    limits = {"upload_max_file_bytes": 2000, "upload_max_files": 2}
    application = create_app(backend_settings.model_copy(update=limits))
    yield application
    await application.state.services.close()


async def test_oversized_files_and_requests_are_413_and_leave_nothing(
    small_app: Starlette, app: Starlette, backend_settings: Settings
) -> None:
    token = await user_token(small_app, "uploader", "editor")
    transport = httpx.ASGITransport(app=small_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        contact = await GraphQLClient(http, token).data(
            'mutation { createContact(input: {name: "Big"}) { contact { id } } }'
        )
        contact_id = contact["createContact"]["contact"]["id"]
        big = images.png(200, 200, (1, 2, 3)) + b"\0" * 3000
        response = await upload(
            http,
            SET_AVATAR,
            {"contactId": contact_id, "file": None},
            {"0": ("big.png", big, "image/png")},
            {"0": ["variables.file"]},
            token=token,
        )
        assert response.status_code == 413
        assert "exceeds 2000 bytes" in response.json()["errors"][0]["message"]

        album = await GraphQLClient(http, token).data(
            'mutation { createAlbum(input: {title: "Many"}) { album { id } } }'
        )
        three = {str(i): (f"{i}.png", images.png(4, 4), "image/png") for i in range(3)}
        response = await upload(
            http,
            ADD_PHOTOS,
            {"albumId": album["createAlbum"]["album"]["id"], "files": [None] * 3},
            three,
            {str(i): [f"variables.files.{i}"] for i in range(3)},
            token=token,
        )
        assert response.status_code == 413
        assert "at most 2 files" in response.json()["errors"][0]["message"]
    assert temp_files(backend_settings) == []
    assert blobs(backend_settings, "contacts.avatar") == []


async def test_uploading_needs_the_write_scopes(
    app: Starlette, client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    contact_id = await new_contact(gql)
    viewer = await user_token(app, "looker", "viewer")
    body = await set_avatar(client, viewer, contact_id, images.png())
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    response = await upload(
        client,
        SET_AVATAR,
        {"contactId": contact_id, "file": None},
        {"0": ("a.png", images.png(), "image/png")},
        {"0": ["variables.file"]},
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_sanitise_removes_every_control_character() -> None:
    from app.storage.filenames import sanitise

    assert sanitise("a\x00b\x07c\x1bd\x7fe\u200ff\u2028.png", "image/png") == "abcdef.png"
    assert sanitise(None, "image/jpeg") == "file.jpg"
    assert sanitise("nul.txt", "application/octet-stream") == "_nul.txt"
