"""Large real images through a live server: judged without decoding, in bounded memory.

A 48 MiB PNG decoded by Pillow costs the process 64 MiB of pixels; reading its chunks costs a
buffer. The server's peak resident memory (VmHWM, reset before each upload) tells them apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import images
from tests.conftest import PASSWORD, run_cli, serve_process
from tests.uploads import PREFLIGHT

#: Peak growth allowed while a large image is uploaded and judged. Decoding the PNG below
#: alone would take 64 MiB (Pillow keeps RGB as 4 bytes a pixel).
MAX_GROWTH_MIB = 24
PNG_SIDE = 4096  # 48 MiB of noise, stored as it is
JPEG_SIZE = (6000, 4000)  # 24 megapixels, about 20 MiB at quality 95
ADD_PHOTO = """
mutation($albumId: ID!, $files: [Upload!]!) {
  addPhotos(input: {albumId: $albumId, files: $files}) {
    photos { file { contentType width height size } }
    userErrors { message code }
  }
}
"""


@pytest.fixture(scope="module")
def large_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Made once per run and kept on disk: making them costs more than uploading them."""
    directory = tmp_path_factory.mktemp("large-images")
    made = {
        "noise.png": images.noise_png(PNG_SIDE, PNG_SIDE),
        "noise.jpg": images.noise_jpeg(*JPEG_SIZE),
    }
    for name, content in made.items():
        (directory / name).write_bytes(content)
    return {name: directory / name for name in made}


@pytest.fixture(scope="module")
def roomy_server(
    live_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int, str]]:
    """A live server of its own that takes 128 MiB photos: (base URL, pid, token)."""
    workdir = tmp_path_factory.mktemp("roomy")
    limits = {"albums.photos": {"max_bytes": 128 * 2**20, "max_files": 1}}
    env = {
        **live_env,
        "VAR_DIR": str(workdir / "var"),
        "FILES_ROOT": str(workdir / "files"),
        "STORAGE_LIMITS": json.dumps(limits),
    }
    with serve_process(env, workdir / "server.log") as (url, pid):
        run_cli(env, "createuser", "photographer", "--admin", "--password-stdin", stdin=PASSWORD)
        login = httpx.post(
            f"{url}/graphql",
            json={
                "query": "mutation($p: String!) { login(input: "
                '{username: "photographer", password: $p}) { token } }',
                "variables": {"p": PASSWORD},
            },
        )
        yield url, pid, login.json()["data"]["login"]["token"]


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def reset_peak(pid: int) -> int:
    """Start a new peak at the current resident size (Linux: clear_refs 5); return that size."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return memory_kib(pid, "VmRSS")


def add_photo(http: httpx.Client, album_id: str, name: str, content: bytes) -> dict[str, Any]:
    operations = {"query": ADD_PHOTO, "variables": {"albumId": album_id, "files": [None]}}
    response = http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": '{"0": ["variables.files.0"]}'},
        files={"0": (name, content, "application/octet-stream")},
    )
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["data"]["addPhotos"]
    return payload


def test_large_real_images_are_judged_in_bounded_memory(
    roomy_server: tuple[str, int, str], large_images: dict[str, Path]
) -> None:
    url, pid, token = roomy_server
    headers = {**PREFLIGHT, "Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
        created = http.post(
            "/graphql",
            json={"query": 'mutation { createAlbum(input: {title: "Big"}) { album { id } } }'},
        )
        album_id = created.json()["data"]["createAlbum"]["album"]["id"]
        add_photo(http, album_id, "warm-up.png", images.png())  # first-use costs paid here
        expected = {
            "noise.png": ("image/png", PNG_SIDE, PNG_SIDE),
            "noise.jpg": ("image/jpeg", *JPEG_SIZE),
        }
        growth = {}
        for name, path in large_images.items():
            content = path.read_bytes()
            before = reset_peak(pid)
            payload = add_photo(http, album_id, name, content)
            growth[name] = (memory_kib(pid, "VmHWM") - before) / 1024
            assert payload["userErrors"] == [], payload
            (photo,) = payload["photos"]
            kind, width, height = expected[name]
            assert photo["file"] == {
                "contentType": kind,
                "width": width,
                "height": height,
                "size": len(content),
            }
    assert all(mib < MAX_GROWTH_MIB for mib in growth.values()), growth
