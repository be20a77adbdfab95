"""Moving a store: `contentgraph storage copy --to s3` (and back) copies every referenced blob,
verified, skips what is already there, survives being run again after an interruption, and
reports what it could not copy."""

from __future__ import annotations

import fcntl
import hashlib
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from app.storage.blobs import BlobStore
from app.storage.consistency import MAX_PROBLEMS, FsckReport
from app.storage.local import LocalBlobStore
from app.storage.moving import CopyReport, copy_store
from tests import images
from tests.conftest import GraphQLClient, cli_env, run_cli
from tests.factories import add, stored_file
from tests.s3_server import S3Server
from tests.test_blob_stores import LARGE, content, listed, overwrite, placed, temps
from tests.test_uploads import new_contact, set_avatar

ENTITY = "albums.photos"


@pytest.fixture(params=["local-to-s3", "s3-to-local"])
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path, s3_server: S3Server
) -> AsyncIterator[tuple[BlobStore, BlobStore]]:
    local = LocalBlobStore(tmp_path / "files")
    s3 = s3_server.store(s3_server.new_bucket())
    try:
        yield (local, s3) if request.param == "local-to-s3" else (s3, local)
    finally:
        await s3.close()


async def test_every_referenced_blob_is_copied_once_and_a_rerun_skips_them(
    app: Starlette, stores: tuple[BlobStore, BlobStore]
) -> None:
    source, target = stores
    datas = [content(1000 + i, seed=i) for i in range(5)] + [content(LARGE, seed=9)]
    for index, data in enumerate(datas):
        await placed(source, data)
        await add(app, stored_file(ENTITY, f"{index}.png", data=data))
    await add(app, stored_file(ENTITY, "again.png", data=datas[0]))  # one blob, two rows
    await placed(source, b"unreferenced")  # not copied: no row wants it
    ticks: list[int] = []

    report = await copy_store(app.state.db, source, target, tick=ticks.append, jobs=3)
    assert (report.copied, report.present, report.failed) == (6, 0, 0), report.problems
    assert report.bytes_copied == sum(map(len, datas))
    assert sum(ticks) == 6
    expected = sorted((ENTITY, hashlib.sha256(d).hexdigest(), len(d)) for d in datas)
    assert await listed(target) == expected
    assert await temps(target) == []

    again = await copy_store(app.state.db, source, target, verify=True)
    assert (again.copied, again.present, again.failed) == (0, 6, 0)

    # Interrupted: one blob never arrived, and a temporary one was left behind.
    lost = hashlib.sha256(datas[2]).hexdigest()
    assert await target.delete(ENTITY, lost)
    writer = target.writer(100)
    await writer.write(b"cut short")
    resumed = await copy_store(app.state.db, source, target)
    assert (resumed.copied, resumed.present, resumed.failed) == (1, 5, 0)
    assert await listed(target) == expected


async def test_what_cannot_be_copied_is_reported_and_never_placed(
    app: Starlette, stores: tuple[BlobStore, BlobStore]
) -> None:
    source, target = stores
    good, corrupt, wrong_there = content(2000, 1), content(2000, 2), content(2000, 3)
    for data in (good, corrupt, wrong_there):
        await placed(source, data)
    await add(
        app,
        stored_file(ENTITY, "good.png", data=good),
        stored_file(ENTITY, "corrupt.png", data=corrupt),
        stored_file(ENTITY, "wrong.png", data=wrong_there),
        stored_file(ENTITY, "dangling.png", data=b"never stored"),
    )
    sha = {name: hashlib.sha256(d).hexdigest() for name, d in (("c", corrupt), ("w", wrong_there))}
    await overwrite(source, ENTITY, sha["c"], corrupt[:-1] + b"\0")
    await overwrite(target, ENTITY, sha["w"], b"stale bytes from an earlier copy")

    report = await copy_store(app.state.db, source, target)
    assert (report.copied, report.replaced, report.failed) == (2, 1, 2)
    problems = "\n".join(report.problems)
    assert f"not copied: {ENTITY}/{sha['c']} reads as 2000 bytes with SHA-256" in problems
    assert "missing in the source: " in problems and "(a dangling row" in problems
    assert not await target.exists(ENTITY, sha["c"])
    assert await target.hash_of(ENTITY, sha["w"]) == sha["w"]
    assert await temps(target) == []


def run_in_terminal(env: dict[str, str], *arguments: str) -> tuple[int, str]:
    """The CLI with its standard error on a pseudo-terminal (where progress bars show)."""
    leader, follower = pty.openpty()
    # A terminal of 24 x 100 (a fresh pty is 0 x 0: tqdm would draw a bar of no width).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *arguments],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            process.kill()
            break
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not data:
            break
        seen += data
    os.close(leader)
    return process.wait(timeout=30), seen.decode(errors="replace")


async def test_the_commands_move_a_store_there_and_back(
    app: Starlette,
    client: httpx.AsyncClient,
    gql: GraphQLClient,
    backend_settings: object,
    live_env: dict[str, str],
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    contents = [images.png(10 + i, 10) for i in range(3)]
    for data in contents:
        await set_avatar(client, str(gql.token), await new_contact(gql), data)
    bucket = s3_server.new_bucket()
    local_env = cli_env(app.state.settings, live_env) | s3_server.env(bucket)
    local_env["STORAGE_BACKEND"] = "local"

    refused = run_cli(local_env, "storage", "copy", "--to", "local")
    assert refused.returncode == 2 and "already local" in refused.stderr

    code, terminal = run_in_terminal(local_env, "storage", "copy", "--to", "s3")
    assert code == 0, terminal
    assert "copying to s3" in terminal and "100%" in terminal  # the progress bar, on a TTY
    copied = run_cli(local_env, "storage", "copy", "--to", "s3")  # not a TTY: no bar
    assert copied.returncode == 0, copied.stderr
    assert "copying" not in copied.stderr
    assert "copied 0 blobs (0 bytes), 3 already there, 0 failed" in copied.stdout
    keys = s3_server.keys(bucket)
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == sorted(
        hashlib.sha256(c).hexdigest() for c in contents
    )

    s3_env = local_env | {"STORAGE_BACKEND": "s3", "FILES_ROOT": str(tmp_path / "back")}
    checked = run_cli(s3_env, "fsck", "--verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "3 rows, 3 blobs: 0 dangling rows" in checked.stdout
    back = run_cli(s3_env, "storage", "copy", "--to", "local")
    assert back.returncode == 0, back.stdout + back.stderr
    assert "copied 3 blobs" in back.stdout
    returned = sorted(p.read_bytes() for p in (tmp_path / "back").rglob("*") if p.is_file())
    assert returned == sorted(contents)


def test_a_storage_report_lists_at_most_max_problems_of_them() -> None:
    for report in (CopyReport(), FsckReport()):
        for number in range(MAX_PROBLEMS + 5):
            report.note(f"blob {number}: missing")
        assert len(report.problems) == MAX_PROBLEMS
        assert report.problems[-1] == f"blob {MAX_PROBLEMS - 1}: missing"
