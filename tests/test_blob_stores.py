"""One storage suite, run against every blob store: local disk, and S3 (a moto server the suite
starts itself). Whatever the backend, the interface keeps the same promises - streamed writes
stopped at their limit, the SHA-256 computed on the way, content addresses and dedup, ranged
reads, listings for fsck and gc - and fsck and gc behave alike on top of it."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import pytest
from starlette.applications import Starlette

from app.storage.blobs import BlobMissing, BlobStore, TempBlob, TooLarge
from app.storage.consistency import fsck, gc
from app.storage.files import Files
from app.storage.local import LocalBlobStore
from app.storage.probe import probe_stream
from app.storage.s3 import MIN_PART_BYTES, S3BlobStore
from tests import images
from tests.factories import add, stored_file
from tests.s3_server import S3Server

BACKENDS = ["local", "s3"]
ENTITY = "albums.photos"
#: More than one S3 part (and more than the local writer's buffer): the multipart path.
LARGE = 2 * MIN_PART_BYTES + 12345


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "files")
        return
    server: S3Server = request.getfixturevalue("s3_server")
    s3 = server.store(server.new_bucket())
    try:
        yield s3
    finally:
        await s3.close()


def content(size: int, seed: int = 0) -> bytes:
    """Bytes that differ everywhere (a misplaced range cannot pass for the right one)."""
    block = hashlib.sha256(f"{seed}".encode()).digest() * 2048  # 64 KiB
    whole = block * (size // len(block) + 1)
    return bytes((b + i) % 256 for i, b in enumerate(whole[:256])) + whole[256:size]


async def written(store: BlobStore, data: bytes, chunk: int = 64 * 1024) -> TempBlob:
    writer = store.writer(max(len(data), 1))
    for start in range(0, len(data), chunk):
        await writer.write(data[start : start + chunk])
    return await writer.finish()


async def placed(store: BlobStore, data: bytes, entity: str = ENTITY) -> str:
    blob = await written(store, data)
    await store.place(entity, blob)
    await store.discard(blob)
    return blob.sha256


async def read(store: BlobStore, sha256: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.open(ENTITY, sha256, start, end)])


async def listed(store: BlobStore) -> list[tuple[str, str, int]]:
    return sorted([(e.entity, e.sha256, e.size) async for e in store.iterate()])


async def temps(store: BlobStore) -> list[Any]:
    return [entry async for entry in store.iterate_temp()]


async def overwrite(store: BlobStore, entity: str, sha256: str, data: bytes) -> None:
    """Change a placed blob's bytes behind the store's back (a disk or bucket gone wrong)."""
    if isinstance(store, LocalBlobStore):
        path = store._path(entity, sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    assert isinstance(store, S3BlobStore)
    client = await store.client()
    await client.put_object(
        Bucket=store.bucket, Key=f"{entity}/{sha256[:2]}/{sha256[2:4]}/{sha256}", Body=data
    )


@pytest.mark.parametrize("size", [0, 1000, LARGE])
async def test_a_streamed_write_is_hashed_counted_and_placed_at_its_address(
    store: BlobStore, size: int
) -> None:
    data = content(size)
    blob = await written(store, data, chunk=10_000)
    assert (blob.size, blob.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert blob.head == data[:4096]
    assert [t.name for t in await temps(store)] == [blob.name]  # durable, not yet placed
    assert not await store.exists(ENTITY, blob.sha256)

    await store.place(ENTITY, blob)
    assert await store.exists(ENTITY, blob.sha256)
    assert await store.size_of(ENTITY, blob.sha256) == len(data)
    assert await read(store, blob.sha256) == data
    assert await store.hash_of(ENTITY, blob.sha256) == blob.sha256
    await store.discard(blob)
    assert await temps(store) == []
    assert await read(store, blob.sha256) == data  # the placed blob does not need the temp
    assert await listed(store) == [(ENTITY, blob.sha256, len(data))]


@pytest.mark.parametrize("size", [1000, LARGE])
async def test_past_its_limit_a_write_stops_and_keeps_nothing(store: BlobStore, size: int) -> None:
    writer = store.writer(size - 1)
    data = content(size)
    with pytest.raises(TooLarge) as refused:
        for start in range(0, size, 64 * 1024):
            await writer.write(data[start : start + 64 * 1024])
    assert refused.value.limit == size - 1
    assert await temps(store) == []  # no temp file, object, nor unfinished multipart upload
    assert await listed(store) == []
    await writer.abort()  # (again: harmless)


async def test_aborting_a_write_in_progress_or_finished_removes_it(store: BlobStore) -> None:
    writer = store.writer(LARGE)
    await writer.write(content(MIN_PART_BYTES + 1))  # a part sent, on S3; on disk, flushed
    assert len(await temps(store)) == 1  # an upload in progress is listed (for gc)
    await writer.abort()
    assert await temps(store) == []
    done = store.writer(100)
    await done.write(b"finished")
    await done.finish()
    await done.abort()
    assert await temps(store) == []


async def test_the_same_bytes_are_stored_once_per_entity(store: BlobStore) -> None:
    data = content(3000, seed=1)
    first, second = await written(store, data), await written(store, data)
    assert first.name != second.name and first.sha256 == second.sha256
    await store.place(ENTITY, first)
    await store.place(ENTITY, second)  # dedup: found there
    await store.place("users.avatar", second)  # another entity keeps its own copy
    for blob in (first, second):
        await store.discard(blob)
    assert await listed(store) == [
        (ENTITY, first.sha256, 3000),
        ("users.avatar", first.sha256, 3000),
    ]
    assert await temps(store) == []


async def test_a_blob_collected_before_commit_can_be_placed_again_from_its_temp(
    store: BlobStore,
) -> None:
    blob = await written(store, b"placed twice")
    await store.place(ENTITY, blob)
    assert await store.delete(ENTITY, blob.sha256)
    await store.place(ENTITY, blob)
    assert await read(store, blob.sha256) == b"placed twice"
    await store.discard(blob)


async def test_delete_and_a_missing_blob(store: BlobStore) -> None:
    sha256 = await placed(store, b"short-lived")
    assert await store.delete(ENTITY, sha256) is True
    assert await store.delete(ENTITY, sha256) is False
    assert not await store.exists(ENTITY, sha256)
    assert await store.size_of(ENTITY, sha256) is None
    with pytest.raises(BlobMissing):
        await read(store, sha256)
    assert await listed(store) == []


async def test_addresses_are_validated(store: BlobStore) -> None:
    for entity, sha256 in (("../etc", "a" * 64), (ENTITY, "../../x"), (ENTITY, "A" * 64)):
        with pytest.raises(ValueError):
            await store.exists(entity, sha256)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 10),
        (10, 20),
        (MIN_PART_BYTES - 3, MIN_PART_BYTES + 3),  # across the first part boundary
        (LARGE - 5, None),
        (LARGE - 5, LARGE),
        (0, None),
        (7, 7),
    ],
)
async def test_ranged_reads(store: BlobStore, start: int, end: int | None) -> None:
    data = content(LARGE, seed=2)
    sha256 = await placed(store, data)
    assert await read(store, sha256, start, end) == data[start:end]


async def test_the_temp_reader_reads_and_seeks_from_a_worker_thread(store: BlobStore) -> None:
    picture = images.png(300, 200)
    blob = await written(store, picture)

    def probe() -> tuple[bytes, bytes, Any]:
        with store.temp_reader(blob) as handle:
            head = handle.read(8)
            handle.seek(len(picture) - 12)
            tail = handle.read(100)
            handle.seek(0)
            return head, tail, probe_stream(handle, blob.size, max_pixels=10**6)

    head, tail, facts = await anyio.to_thread.run_sync(probe)
    assert head == picture[:8] and tail == picture[-12:]
    assert (facts.content_type, facts.width, facts.height) == ("image/png", 300, 200)
    await store.discard(blob)


async def test_listings_give_entity_hash_size_and_age(store: BlobStore) -> None:
    before = time.time() - 5
    shas = [await placed(store, content(100 + i, seed=i)) for i in range(3)]
    other = await placed(store, b"an avatar", "users.avatar")
    entries = [entry async for entry in store.iterate()]
    assert sorted((e.entity, e.sha256) for e in entries) == sorted(
        [(ENTITY, sha) for sha in shas] + [("users.avatar", other)]
    )
    assert all(before <= e.modified <= time.time() + 5 for e in entries)
    writer = store.writer(100)
    await writer.write(b"in flight")
    blob = await writer.finish()
    (temp,) = await temps(store)
    assert temp.name == blob.name and before <= temp.modified <= time.time() + 5
    await store.remove_temp(temp)
    assert await temps(store) == []


async def test_check_passes_on_a_writable_store(store: BlobStore) -> None:
    await store.check()
    assert await temps(store) == []  # the probe leaves nothing behind


# fsck and gc over each store (and each database: the `app` fixture's).


@pytest.fixture
def files(app: Starlette, store: BlobStore) -> Files:
    return Files(store, app.state.settings)


async def test_fsck_and_gc_agree_with_rows_on_every_store(app: Starlette, files: Files) -> None:
    store, db = files.blobs, app.state.db
    kept, orphan = b"referenced", b"nobody's"
    await placed(store, kept)
    await placed(store, orphan)
    await add(
        app,
        stored_file(ENTITY, "kept.png", data=kept),
        stored_file(ENTITY, "dangling.png", data=b"never stored"),
    )
    unfinished = store.writer(LARGE)
    await unfinished.write(content(MIN_PART_BYTES + 1))  # an upload a crash cut short

    report = await fsck(db, store, grace_seconds=3600, verify_hashes=True)
    assert (report.rows, report.blobs, report.dangling_rows) == (2, 2, 1)
    assert (report.orphan_blobs, report.young_orphans, report.temp_in_flight) == (0, 1, 1)
    assert not report.clean

    young = await gc(db, files, grace_seconds=3600)
    assert (young.orphans_removed, young.orphans_kept_young, young.temp_removed) == (0, 1, 0)

    report = await fsck(db, store, grace_seconds=0)
    assert (report.orphan_blobs, report.young_orphans, report.temp_abandoned) == (1, 0, 1)
    dry = await gc(db, files, grace_seconds=0, dry_run=True)
    assert (dry.orphans_removed, dry.temp_removed) == (1, 1)
    assert len(await listed(store)) == 2
    collected = await gc(db, files, grace_seconds=0)
    assert (collected.orphans_removed, collected.temp_removed) == (1, 1)
    assert collected.bytes_freed == len(orphan)
    assert await listed(store) == [(ENTITY, hashlib.sha256(kept).hexdigest(), len(kept))]
    assert await temps(store) == []
    report = await fsck(db, store, grace_seconds=0)
    assert (report.orphan_blobs, report.temp_abandoned, report.dangling_rows) == (0, 0, 1)


async def test_fsck_finds_size_and_hash_mismatches_on_every_store(
    app: Starlette, files: Files
) -> None:
    store = files.blobs
    shrunk, flipped = content(5000, seed=3), content(5000, seed=4)
    await add(
        app,
        stored_file(ENTITY, "shrunk.png", data=shrunk),
        stored_file(ENTITY, "f.png", data=flipped),
    )
    await placed(store, shrunk)
    await placed(store, flipped)
    assert (await fsck(app.state.db, store, grace_seconds=0, verify_hashes=True)).clean
    sha = hashlib.sha256
    await overwrite(store, ENTITY, sha(shrunk).hexdigest(), b"truncated")
    await overwrite(store, ENTITY, sha(flipped).hexdigest(), flipped[:-1] + b"\0")
    report = await fsck(app.state.db, store, grace_seconds=0, verify_hashes=True)
    assert (report.size_mismatches, report.hash_mismatches) == (1, 2)
    assert (await fsck(app.state.db, store, grace_seconds=0)).hash_mismatches == 0


# What only S3 has.


async def test_s3_keys_follow_the_layout_under_the_prefix(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    store = s3_server.store(bucket, prefix="cg/")
    try:
        sha256 = await placed(store, b"under a prefix")
        writer = store.writer(10)
        await writer.write(b"temporary")
        blob = await writer.finish()
        assert s3_server.keys(bucket) == sorted(
            [f"cg/{ENTITY}/{sha256[:2]}/{sha256[2:4]}/{sha256}", f"cg/.tmp/{blob.name}"]
        )
        assert await listed(store) == [(ENTITY, sha256, 14)]
        outside = s3_server.store(bucket)  # the same bucket without the prefix sees no blob
        assert await listed(outside) == []
        await outside.close()
    finally:
        await store.close()


async def test_s3_upload_memory_is_one_part(s3_server: S3Server) -> None:
    """Bytes sent are released: after each part the writer's buffer starts again."""
    store = s3_server.store(s3_server.new_bucket())
    try:
        writer = store.writer(10 * MIN_PART_BYTES)
        assert writer.part_bytes == MIN_PART_BYTES
        held = 0
        chunk = content(64 * 1024)
        for _ in range(4 * MIN_PART_BYTES // len(chunk)):
            await writer.write(chunk)
            held = max(held, len(writer._buffer))
        assert held < MIN_PART_BYTES
        assert len(s3_server.unfinished_uploads(store.bucket)) == 1
        blob = await writer.finish()
        assert blob.size == 4 * MIN_PART_BYTES
        assert s3_server.unfinished_uploads(store.bucket) == []
    finally:
        await store.close()


def test_s3_parts_grow_for_huge_limits(s3_server: S3Server) -> None:
    store = s3_server.store("any-bucket")
    assert store.writer(100 * 1024**3).part_bytes == 100 * 1024**3 // 10_000 + 1


async def test_s3_presigned_urls_carry_the_response_headers(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    proxied, redirecting = s3_server.store(bucket), s3_server.store(bucket, redirect=True)
    try:
        data = content(2000, seed=5)
        sha256 = await placed(proxied, data)
        headers: dict[str, Any] = {
            "content_type": "image/png",
            "content_disposition": 'attachment; filename="a b.png"',
            "cache_control": "private, max-age=60",
            "expires_in": 60,
        }
        assert await proxied.download_url(ENTITY, sha256, **headers) is None
        url = await redirecting.download_url(ENTITY, sha256, **headers)
        assert url is not None and url.startswith(s3_server.endpoint)
        async with httpx.AsyncClient() as http:
            response = await http.get(url)
            ranged = await http.get(url, headers={"Range": "bytes=10-19"})
        assert response.status_code == 200 and response.content == data
        assert response.headers["content-type"] == "image/png"
        assert response.headers["content-disposition"] == 'attachment; filename="a b.png"'
        assert response.headers["cache-control"] == "private, max-age=60"
        assert ranged.status_code == 206 and ranged.content == data[10:20]
    finally:
        await proxied.close()
        await redirecting.close()


async def test_s3_check_fails_for_a_missing_bucket(s3_server: S3Server) -> None:
    store = s3_server.store("no-such-bucket-here")
    try:
        with pytest.raises(Exception, match="NoSuchBucket"):
            await store.check()
    finally:
        await store.close()
