"""Uploads that cannot be taken get a JSON error with a code and the right status, and leave
nothing behind: a malformed multipart body (400), and a full disk (507)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from app.config import Settings
from app.server import create_app
from tests import images
from tests.backends import REQUIRE_SERVICES
from tests.conftest import GraphQLClient, as_admin, client_address, user_token
from tests.test_uploads import new_contact, set_avatar
from tests.uploads import PREFLIGHT

SET_AVATAR = (
    '{"query": "mutation($c: ID!, $f: Upload!) { setContactAvatar(input: {contactId: $c, '
    'file: $f}) { userErrors { code } } }", "variables": {"c": "x", "f": null}}'
)


def code_of(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def test_a_boundary_over_256_characters_is_a_400(client: httpx.AsyncClient) -> None:
    boundary = "b" * 300
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{{}}\r\n'
    response = await client.post(
        "/graphql",
        content=(body + f"--{boundary}--\r\n").encode(),
        headers={**PREFLIGHT, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400, response.text
    assert code_of(response) == "BAD_REQUEST"
    assert "boundary" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("index", ["²", "٣", "9" * 5000])
async def test_a_map_index_that_is_not_ascii_digits_is_a_400(
    client: httpx.AsyncClient, index: str
) -> None:
    operations = (
        '{"query": "mutation($f: [Upload!]!) { addPhotos(input: {albumId: \\"x\\", photos: '
        '[]}) { userErrors { code } } }", "variables": {"f": [null]}}'
    )
    response = await client.post(
        "/graphql",
        data={"operations": operations, "map": f'{{"0": ["variables.f.{index}"]}}'},
        files={"0": ("a.png", images.png(), "image/png")},
        headers=PREFLIGHT,
    )
    assert response.status_code == 400, response.text
    assert code_of(response) == "BAD_REQUEST"


@contextlib.contextmanager
def small_disk(directory: Path, size: str) -> Iterator[Path]:
    """A real filesystem that fills up: a tmpfs of ``size`` (needs root, as CI has)."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}"
        if REQUIRE_SERVICES:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


@pytest.fixture
async def cramped(
    app: Starlette, backend_settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """The test database with a files root on a 1 MiB disk."""
    with small_disk(tmp_path / "small-disk", "1m") as root:
        tight = create_app(backend_settings.model_copy(update={"files_root": root}))
        transport = httpx.ASGITransport(app=tight, client=(client_address(), 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            await as_admin(tight, http)
            yield tight, http
        await tight.state.services.close()


async def test_a_full_disk_while_an_upload_streams_is_a_507_and_keeps_nothing(
    cramped: tuple[Starlette, httpx.AsyncClient],
) -> None:
    tight, http = cramped
    gql = GraphQLClient(http, http.headers["Authorization"].removeprefix("Bearer "))
    contact = await new_contact(gql)
    too_big = images.noise_png(1200, 1200)  # about 4 MiB, incompressible
    assert len(too_big) > 2 * 1024 * 1024
    response = await http.post(
        "/graphql",
        data={
            "operations": SET_AVATAR.replace('"x"', f'"{contact}"'),
            "map": '{"0": ["variables.f"]}',
        },
        files={"0": ("big.png", too_big, "image/png")},
        headers=PREFLIGHT,
    )
    assert response.status_code == 507, response.text
    assert code_of(response) == "INSUFFICIENT_STORAGE"
    root = tight.state.settings.files_root
    assert [p for p in root.rglob("*") if p.is_file()] == []  # the partial upload is gone
    # Space came back with it: a small upload fits.
    body = await set_avatar(http, gql.token or "", contact, images.png(20, 20))
    assert body["data"]["setContactAvatar"]["userErrors"] == []
    assert await user_token(tight, "after-full") != ""


async def test_an_unexpected_error_on_any_route_is_a_json_500(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.http.files as files

    async def broken(*args: object) -> None:
        raise RuntimeError("a bug, with secret details")

    monkeypatch.setattr(files, "_row", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get(f"/files/users.avatar/{'0' * 32}/a.png")
    assert response.status_code == 500
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "secret" not in response.text
