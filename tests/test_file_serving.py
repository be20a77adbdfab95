"""GET /files/...: caching, conditional and range requests, safe headers, permissions."""

from __future__ import annotations

import time
import uuid
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.config import Settings
from app.server import create_app
from app.storage.blobs import BlobStore
from schema.ids import to_global_id
from tests import images
from tests.conftest import GraphQLClient, client_address, user_token
from tests.test_uploads import new_contact, set_avatar
from tests.uploads import upload

MY_AVATAR = """
mutation($file: Upload!) {
  setMyAvatar(input: {file: $file}) { user { avatar { id url sha256 size } } userErrors { code } }
}
"""


async def put_blob(blobs: BlobStore, entity: str, content: bytes) -> str:
    """Place bytes in a store the way an upload does (no row): their SHA-256."""
    writer = blobs.writer(len(content))
    await writer.write(content)
    blob = await writer.finish()
    await blobs.place(entity, blob)
    await blobs.discard(blob)
    return blob.sha256


def assert_refused(
    response: httpx.Response, status: int, code: str, message: str | None = None
) -> None:
    """A refusal in the one envelope every route answers errors with (GraphQL over HTTP's)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == {
        "errors": [{"message": body["errors"][0]["message"], "extensions": {"code": code}}]
    }
    if message is not None:
        assert body["errors"][0]["message"] == message


async def contact_avatar(client: httpx.AsyncClient, gql: GraphQLClient) -> dict[str, Any]:
    contact_id = await new_contact(gql)
    body = await set_avatar(client, str(gql.token), contact_id, images.png(40, 30))
    avatar: dict[str, Any] = body["data"]["setContactAvatar"]["contact"]["avatar"]
    return avatar


async def my_avatar(client: httpx.AsyncClient, token: str, content: bytes) -> dict[str, Any]:
    response = await upload(
        client,
        MY_AVATAR,
        {"file": None},
        {"0": ("me.png", content, "image/png")},
        {"0": ["variables.file"]},
        token=token,
    )
    avatar: dict[str, Any] = response.json()["data"]["setMyAvatar"]["user"]["avatar"]
    return avatar


async def test_public_files_are_cached_forever_and_shown_inline(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    token = await user_token(app, "pictured", "viewer")
    content = images.png(12, 12)
    avatar = await my_avatar(client, token, content)
    assert "signature" not in avatar["url"]
    response = await client.get(avatar["url"])  # no credentials needed: users.avatar is public
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "image/png"
    assert response.headers["etag"] == f'"{avatar["sha256"]}"'
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"].startswith("inline")
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.headers["last-modified"]
    assert response.headers["accept-ranges"] == "bytes"


async def test_conditional_requests_answer_304(app: Starlette, client: httpx.AsyncClient) -> None:
    token = await user_token(app, "cacher", "viewer")
    avatar = await my_avatar(client, token, images.png(5, 5))
    first = await client.get(avatar["url"])
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", W/{etag}'},
        {"If-Modified-Since": modified},
        {"If-Modified-Since": format_datetime(time_now(), usegmt=True)},
    ):
        response = await client.get(avatar["url"], headers=headers)
        assert response.status_code == 304, headers
        assert response.content == b""
        assert response.headers["etag"] == etag
    changed = await client.get(avatar["url"], headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200


def time_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def test_ranges_and_head(app: Starlette, client: httpx.AsyncClient) -> None:
    token = await user_token(app, "ranger", "viewer")
    content = images.png(50, 50)
    avatar = await my_avatar(client, token, content)
    part = await client.get(avatar["url"], headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == content[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(content)}"
    tail = await client.get(avatar["url"], headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == content[-5:]
    beyond = await client.get(avatar["url"], headers={"Range": f"bytes={len(content) + 10}-"})
    assert_refused(
        beyond,
        416,
        "RANGE_NOT_SATISFIABLE",
        f"the range starts past the file's {len(content)} bytes",
    )
    assert beyond.headers["content-range"] == f"bytes */{len(content)}"
    for malformed in ("bytes=19-10", "pages=1-2", "bytes", "bytes=x"):
        refused = await client.get(avatar["url"], headers={"Range": malformed})
        assert_refused(refused, 400, "BAD_REQUEST")
        assert "Range" in refused.json()["errors"][0]["message"]
    stale = await client.get(
        avatar["url"], headers={"Range": f"bytes={len(content) + 10}-", "If-Range": '"old"'}
    )
    assert stale.status_code == 200 and stale.content == content  # If-Range: the whole file
    head = await client.head(avatar["url"])
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(content))


async def test_restricted_files_need_a_session_or_a_signed_url(
    app: Starlette, client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    avatar = await contact_avatar(client, gql)
    signed = avatar["url"]
    assert "expires=" in signed and "signature=" in signed
    bare = signed.split("?")[0]

    assert (await client.get(bare)).status_code == 401
    response = await client.get(signed)  # an <img src> sends no headers
    assert response.status_code == 200
    assert response.headers["cache-control"].startswith("private, max-age=")
    viewer = await user_token(app, "reader", "viewer")
    with_session = await client.get(bare, headers={"Authorization": f"Bearer {viewer}"})
    assert with_session.status_code == 200
    assert "Authorization" in with_session.headers["vary"]  # (and Origin, for CORS)
    nobody = await user_token(app, "nobody-here")
    refused = await client.get(bare, headers={"Authorization": f"Bearer {nobody}"})
    assert_refused(refused, 403, "FORBIDDEN", "this file needs contacts.read")


async def test_urls_under_public_url_download_as_they_are(
    app: Starlette, backend_settings: Settings
) -> None:
    """A frontend on another origin gets absolute URLs, signed ones included, that work."""
    origin = "http://files.example.test:8080"
    absolute = create_app(backend_settings.model_copy(update={"public_url": origin}))
    transport = httpx.ASGITransport(app=absolute, client=(client_address(), 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=origin) as http:
            gql = GraphQLClient(http, await user_token(app, "admin", "admin"))
            contact_url = (await contact_avatar(http, gql))["url"]
            mine_url = (await my_avatar(http, str(gql.token), images.png(6, 6)))["url"]
            for url in (contact_url, mine_url):
                assert url.startswith(f"{origin}/files/"), url
                async with httpx.AsyncClient(transport=transport) as browser:  # no base URL
                    assert (await browser.get(url)).status_code == 200, url
    finally:
        await absolute.state.services.close()


async def test_tampered_and_expired_signatures_are_refused(
    app: Starlette, client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    avatar = await contact_avatar(client, gql)
    path, query = avatar["url"].split("?")
    params = dict(pair.split("=") for pair in query.split("&"))
    tampered = params["signature"][:-1] + ("0" if params["signature"][-1] != "0" else "1")
    assert (
        await client.get(f"{path}?expires={params['expires']}&signature={tampered}")
    ).status_code == 403
    later = int(params["expires"]) + 3600
    assert (
        await client.get(f"{path}?expires={later}&signature={params['signature']}")
    ).status_code == 403
    signer = app.state.services.signer
    file_id = uuid.UUID(path.split("/")[3])
    expires, signature = signer.sign("contacts.avatar", file_id, now=time.time() - 10 * 3600)
    assert (await client.get(f"{path}?expires={expires}&signature={signature}")).status_code == 403


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p.replace("/contacts.avatar/", "/albums.photos/"),
        lambda p: p.replace("/contacts.avatar/", "/nope.entity/"),
        lambda p: p.rsplit("/", 1)[0] + "/other-name.png",
        lambda p: "/".join([*p.split("/")[:3], str(uuid.uuid4()), *p.split("/")[4:]]),
        lambda p: "/".join([*p.split("/")[:3], "not-a-uuid", *p.split("/")[4:]]),
        lambda p: "/files/contacts.avatar/..%2F..%2F..%2Fetc/passwd",
        lambda p: "/files/..%2Fvar/x/secret_key",
    ],
)
async def test_wrong_addresses_never_serve_another_file(
    client: httpx.AsyncClient, gql: GraphQLClient, mangle: Any
) -> None:
    """404 for what names no file; 403 where the signature does not fit the new address (it
    is checked before the lookup, so it says nothing about which files exist)."""
    avatar = await contact_avatar(client, gql)
    path, query = avatar["url"].split("?")
    response = await client.get(f"{mangle(path)}?{query}")
    assert response.status_code in {403, 404}
    assert b"\x89PNG" not in response.content


async def test_files_that_are_not_safe_images_download_as_attachments(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """An HTML file that slipped in (an any-type entity, an old row) must never render."""
    import hashlib

    from app.db.models import StoredFile
    from tests.factories import add

    content = images.HTML
    digest = hashlib.sha256(content).hexdigest()
    await put_blob(app.state.services.files.blobs, "users.avatar", content)
    row = StoredFile(
        id=uuid.uuid4(),
        entity="users.avatar",
        filename="page.html",
        content_type="text/html",
        size=len(content),
        sha256=digest,
    )
    await add(app, row)
    response = await client.get(f"/files/users.avatar/{row.id}/page.html")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"


async def test_a_row_whose_blob_is_missing_answers_404(
    app: Starlette, client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    avatar = await contact_avatar(client, gql)
    path, query = avatar["url"].split("?")
    assert await app.state.services.files.blobs.delete("contacts.avatar", avatar["sha256"])
    response = await client.get(f"{path}?{query}")
    assert_refused(response, 404, "NOT_FOUND", "the file's content is missing")


@pytest.mark.parametrize(
    ("expires", "signature"),
    [
        ("٣٣٣٣٣٣٣٣٣٣", None),  # Arabic-Indic digits: isdigit() says yes
        ("²", None),
        ("9" * 5000, None),  # int() refuses more than 4,300 digits
        ("-1", None),
        (None, "é" * 43),  # compare_digest refuses non-ASCII text
    ],
)
async def test_junk_in_a_signed_url_is_a_json_403(
    client: httpx.AsyncClient, gql: GraphQLClient, expires: str | None, signature: str | None
) -> None:
    avatar = await contact_avatar(client, gql)
    path, query = avatar["url"].split("?")
    params = dict(pair.split("=") for pair in query.split("&"))
    response = await client.get(
        path,
        params={
            "expires": params["expires"] if expires is None else expires,
            "signature": params["signature"] if signature is None else signature,
        },
    )
    assert_refused(response, 403, "FORBIDDEN", "the link is invalid or has expired")


async def test_refusals_do_not_tell_which_files_exist(
    app: Starlette, client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    """401 and 403 come before the lookup: the same for a file that exists and one that
    does not, so probing ids learns nothing."""
    avatar = await contact_avatar(client, gql)
    real = avatar["url"].split("?")[0]
    missing = real.replace(real.split("/")[3], str(uuid.uuid4()))
    nobody = await user_token(app, "no-scopes")
    for headers, status in (({}, 401), ({"Authorization": f"Bearer {nobody}"}, 403)):
        answers = [await client.get(path, headers=headers) for path in (real, missing)]
        assert [a.status_code for a in answers] == [status, status]
        assert answers[0].json() == answers[1].json()
    bad_signature = {"expires": str(int(time.time()) + 60), "signature": "0" * 43}
    answers = [await client.get(path, params=bad_signature) for path in (real, missing)]
    assert [a.status_code for a in answers] == [403, 403]


async def test_node_answers_alike_for_a_file_one_may_not_read_and_a_missing_one(
    app: Starlette, client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    avatar = await contact_avatar(client, gql)
    missing = to_global_id("StoredFile", uuid.uuid4())
    nobody = gql.as_user(await user_token(app, "no-scopes-either"))
    query = "query($id: ID!) { node(id: $id) { id } }"
    answers = [await nobody(query, id=node) for node in (avatar["id"], missing)]
    assert answers == [{"data": {"node": None}}] * 2
    assert (await gql(query, id=avatar["id"]))["data"]["node"] == {"id": avatar["id"]}


async def test_every_refusal_answers_in_the_one_envelope(
    app: Starlette, client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    """Status, code and message of each way /files refuses, through real requests - and the
    refusals Starlette makes itself (no such route, a method the route does not take) in the
    same envelope, not its plain text."""
    avatar = await contact_avatar(client, gql)
    signed = avatar["url"]
    bare = signed.split("?")[0]
    _, _, entity, file_id, filename = bare.split("/")
    nobody = {"Authorization": f"Bearer {await user_token(app, 'nobody-at-all')}"}
    cases: list[tuple[str, dict[str, str], int, str, str]] = [
        (bare, {}, 401, "UNAUTHENTICATED", "sign in, or use the file's signed url"),
        (bare, nobody, 403, "FORBIDDEN", "this file needs contacts.read"),
        (
            f"/files/nope.entity/{file_id}/{filename}",
            {},
            404,
            "NOT_FOUND",
            "no such storage entity",
        ),
        (f"/files/{entity}/not-a-uuid/{filename}", {}, 404, "NOT_FOUND", "no such file"),
        (signed.replace(filename, "other.png"), {}, 404, "NOT_FOUND", "no such file"),
        ("/files/too/few", {}, 404, "NOT_FOUND", "Not Found"),
        ("/no-such-route", {}, 404, "NOT_FOUND", "Not Found"),
    ]
    for url, headers, status, code, message in cases:
        assert_refused(await client.get(url, headers=headers), status, code, message)
    posted = await client.post(signed)
    assert_refused(posted, 405, "METHOD_NOT_ALLOWED", "Method Not Allowed")
    assert set(posted.headers["allow"].split(", ")) == {"GET", "HEAD"}
