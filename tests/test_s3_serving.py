"""STORAGE_BACKEND=s3 end to end: uploads through the real multipart GraphQL endpoint land in the
bucket (moto, started by the suite), and /files serves them - streamed through the server, or
redirected to a presigned URL - with the same ETag, Range, 304 and Content-Disposition."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from app.config import S3Serve, Settings
from app.server import create_app
from tests import images
from tests.conftest import GraphQLClient, cli_env, client_address, run_cli, user_token
from tests.s3_server import S3Server
from tests.test_file_serving import assert_refused, my_avatar
from tests.test_uploads import ADD_PHOTOS, new_album, new_contact, set_avatar
from tests.uploads import upload


class S3App:
    def __init__(self, app: Starlette, bucket: str, server: S3Server) -> None:
        self.app, self.bucket, self.server = app, bucket, server

    def objects(self, prefix: str = "") -> list[str]:
        return self.server.keys(self.bucket, prefix)


async def s3_app(
    backend_settings: Settings, server: S3Server, **overrides: object
) -> tuple[S3App, Settings]:
    bucket = server.new_bucket()
    settings = backend_settings.model_copy(update=server.settings(bucket, **overrides))
    return S3App(create_app(settings), bucket, server), settings


@pytest.fixture(params=[S3Serve.PROXY, S3Serve.REDIRECT])
async def s3(
    request: pytest.FixtureRequest,
    app: Starlette,  # (the same database; and its tables are emptied after each test)
    backend_settings: Settings,
    s3_server: S3Server,
) -> AsyncIterator[S3App]:
    made, _ = await s3_app(backend_settings, s3_server, s3_serve=request.param)
    yield made
    await made.app.state.services.close()


@pytest.fixture
async def http(s3: S3App) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=s3.app, client=(client_address(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def admin(s3: S3App, http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http, await user_token(s3.app, "admin", "admin"))


def redirecting(s3: S3App) -> bool:
    return bool(s3.app.state.settings.s3_serve is S3Serve.REDIRECT)


async def fetch(http: httpx.AsyncClient, url: str, **headers: str) -> httpx.Response:
    """GET as a browser would: a redirect to the bucket is followed, with the same headers."""
    response = await http.get(url, headers=headers)
    if response.status_code != 307:
        return response
    async with httpx.AsyncClient() as outside:  # the presigned URL is the bucket's, not ours
        return await outside.get(response.headers["location"], headers=headers)


async def test_an_upload_lands_in_the_bucket_at_its_content_address(
    s3: S3App, http: httpx.AsyncClient, admin: GraphQLClient
) -> None:
    content = images.png(40, 30)
    body = await set_avatar(http, str(admin.token), await new_contact(admin), content)
    avatar = body["data"]["setContactAvatar"]["contact"]["avatar"]
    sha = hashlib.sha256(content).hexdigest()
    assert (avatar["sha256"], avatar["width"], avatar["height"]) == (sha, 40, 30)
    assert s3.objects() == [f"contacts.avatar/{sha[:2]}/{sha[2:4]}/{sha}"]  # no .tmp left
    assert s3.server.unfinished_uploads(s3.bucket) == []


async def test_a_large_photo_streams_in_parts_and_is_probed_from_the_bucket(
    s3: S3App, http: httpx.AsyncClient, admin: GraphQLClient
) -> None:
    """Larger than a part: a multipart upload, and the image probe reads the temporary
    object through ranged GETs (nothing of it is on this machine's disk)."""
    content = images.noise_png(1400, 1400)
    assert len(content) > s3.app.state.settings.s3_part_bytes
    album = await new_album(admin)
    response = await upload(
        http,
        ADD_PHOTOS,
        {"albumId": album, "files": [None], "captions": ["noise"]},
        {"0": ("noise.png", content, "image/png")},
        {"0": ["variables.files.0"]},
        token=str(admin.token),
    )
    payload = response.json()["data"]["addPhotos"]
    assert payload["userErrors"] == []
    assert payload["photos"][0]["file"] == {
        "filename": "noise.png",
        "contentType": "image/png",
        "width": 1400,
        "height": 1400,
    }
    sha = hashlib.sha256(content).hexdigest()
    assert s3.objects() == [f"albums.photos/{sha[:2]}/{sha[2:4]}/{sha}"]
    assert s3.server.unfinished_uploads(s3.bucket) == []


async def test_refused_and_oversized_uploads_leave_nothing_in_the_bucket(
    s3: S3App, http: httpx.AsyncClient, admin: GraphQLClient
) -> None:
    contact = await new_contact(admin)
    refused = await set_avatar(http, str(admin.token), contact, images.HTML, "page.png")
    assert refused["data"]["setContactAvatar"]["userErrors"][0]["code"] == "INVALID_FILE"
    limit = s3.app.state.settings.upload_max_file_bytes
    too_big = await upload(
        http,
        ADD_PHOTOS,
        {"albumId": await new_album(admin), "files": [None]},
        {"0": ("big.png", b"\0" * (limit + 1), "image/png")},
        {"0": ["variables.files.0"]},
        token=str(admin.token),
    )
    assert too_big.status_code == 413
    assert s3.objects() == []
    assert s3.server.unfinished_uploads(s3.bucket) == []


async def test_downloads_keep_etag_ranges_304_and_disposition(
    s3: S3App, http: httpx.AsyncClient, admin: GraphQLClient
) -> None:
    content = images.png(50, 50)
    body = await set_avatar(http, str(admin.token), await new_contact(admin), content, "Me.png")
    url = body["data"]["setContactAvatar"]["contact"]["avatar"]["url"]
    etag = f'"{hashlib.sha256(content).hexdigest()}"'

    first = await http.get(url)
    if redirecting(s3):  # restricted: off to a presigned GET, which answers like we would
        assert first.status_code == 307
        assert first.headers["location"].startswith(s3.server.endpoint)
        assert first.headers["cache-control"] == "private, no-store"
    else:
        assert first.status_code == 200 and first.headers["etag"] == etag
    whole = await fetch(http, url)
    assert whole.status_code == 200 and whole.content == content
    assert whole.headers["content-type"] == "image/png"
    assert whole.headers["content-disposition"] == 'inline; filename="Me.png"'
    assert whole.headers["cache-control"].startswith("private, max-age=")

    part = await fetch(http, url, Range="bytes=10-19")
    assert part.status_code == 206 and part.content == content[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(content)}"
    tail = await fetch(http, url, Range="bytes=-5")
    assert tail.status_code == 206 and tail.content == content[-5:]

    # Conditions and refusals are ours, before any redirect: the same in both modes.
    unchanged = await http.get(url, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.headers["etag"] == etag
    beyond = await http.get(url, headers={"Range": f"bytes={len(content) + 1}-"})
    assert_refused(beyond, 416, "RANGE_NOT_SATISFIABLE")
    head = await http.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(content))
    assert head.headers["etag"] == etag


async def test_several_ranges_answer_multipart_byteranges(
    s3: S3App, http: httpx.AsyncClient, admin: GraphQLClient
) -> None:
    content = images.png(30, 30)
    body = await set_avatar(http, str(admin.token), await new_contact(admin), content)
    url = body["data"]["setContactAvatar"]["contact"]["avatar"]["url"]
    response = await http.get(url, headers={"Range": "bytes=0-3,10-14"})
    if redirecting(s3):
        assert response.status_code == 307
        return
    assert response.status_code == 206
    kind = response.headers["content-type"]
    assert kind.startswith("multipart/byteranges; boundary=")
    boundary = kind.split("boundary=")[1]
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.content == (
        f"--{boundary}\r\nContent-Type: image/png\r\nContent-Range: bytes 0-3/{len(content)}"
        "\r\n\r\n".encode()
        + content[0:4]
        + f"\r\n--{boundary}\r\nContent-Type: image/png\r\nContent-Range: bytes 10-14/"
        f"{len(content)}\r\n\r\n".encode()
        + content[10:15]
        + f"\r\n--{boundary}--".encode()
    )


async def test_public_files_stream_from_the_server_in_either_mode(
    s3: S3App, http: httpx.AsyncClient
) -> None:
    """Their URL is what caches keep for a year: never a redirect to one that expires."""
    token = await user_token(s3.app, "pictured", "viewer")
    content = images.png(12, 12)
    avatar = await my_avatar(http, token, content)
    served = await http.get(avatar["url"])
    assert served.status_code == 200 and served.content == content
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_a_missing_object_answers_404(
    s3: S3App, http: httpx.AsyncClient, admin: GraphQLClient
) -> None:
    body = await set_avatar(http, str(admin.token), await new_contact(admin), images.png(9, 9))
    avatar = body["data"]["setContactAvatar"]["contact"]["avatar"]
    assert await s3.app.state.services.files.blobs.delete("contacts.avatar", avatar["sha256"])
    if redirecting(s3):
        return  # (the bucket answers the presigned GET with its own 404)
    assert_refused(await http.get(avatar["url"]), 404, "NOT_FOUND", "the file's content is missing")
    assert (await http.head(avatar["url"])).status_code == 404


async def test_fsck_and_gc_commands_work_on_the_bucket(
    app: Starlette,
    backend_settings: Settings,
    s3_server: S3Server,
    live_env: dict[str, str],
) -> None:
    made, settings = await s3_app(backend_settings, s3_server)
    try:
        transport = httpx.ASGITransport(app=made.app, client=(client_address(), 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            admin = GraphQLClient(http, await user_token(made.app, "admin", "admin"))
            await set_avatar(http, str(admin.token), await new_contact(admin), images.png(8, 8))
    finally:
        await made.app.state.services.close()
    env = cli_env(settings, live_env) | s3_server.env(made.bucket)
    checked = run_cli(env, "fsck", "--verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 rows, 1 blobs: 0 dangling rows, 0 orphan blobs" in checked.stdout

    orphan = hashlib.sha256(b"orphan").hexdigest()
    key = f"contacts.avatar/{orphan[:2]}/{orphan[2:4]}/{orphan}"
    s3_server.client().put_object(Bucket=made.bucket, Key=key, Body=b"orphan")
    found = run_cli(env, "fsck", "--grace", "0")
    assert found.returncode == 1
    assert f"orphan blob contacts.avatar/{orphan} (6 bytes" in found.stdout
    collected = run_cli(env, "gc", "--grace", "0")
    assert "removed 1 orphan blobs (6 bytes)" in collected.stdout, (
        collected.stdout + collected.stderr
    )
    assert key not in made.objects()
    assert run_cli(env, "fsck", "--verify").returncode == 0
