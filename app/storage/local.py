"""The local-disk blob store.

Layout under the files root::

    <entity>/<h[0:2]>/<h[2:4]>/<h>      a blob, named by its SHA-256
    .tmp/<uuid>                         uploads in progress (same filesystem: rename is atomic)

Every file operation runs in a worker thread; the event loop never waits on the disk. Downloads
read the file in ``READ_CHUNK`` pieces, each a thread hop (Starlette's FileResponse, which served
them before, took 64 KiB a hop; uvicorn offers no sendfile to either).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

import anyio
import anyio.to_thread

from app.storage.addresses import TEMP_DIR, blob_parts, temp_key, valid_entity, valid_sha256
from app.storage.blobs import BlobEntry, BlobMissing, TempBlob, TempEntry, TooLarge

HEAD_BYTES = 4096
WRITE_BUFFER = 1024 * 1024
#: What one read of a download takes from the disk (one worker-thread hop each).
READ_CHUNK = 256 * 1024


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def probe_writable(root: Path) -> None:
    """Create the files root if needed and write (then remove) a file in it; OSError if not."""
    root.mkdir(parents=True, exist_ok=True)
    probe = root / f".probe-{uuid.uuid4().hex}"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"ok")
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)


class LocalTempWriter:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.name = uuid.uuid4().hex
        self.path = root / TEMP_DIR / self.name
        self.max_bytes = max_bytes
        self._hash = hashlib.sha256()
        self._size = 0
        self._head = b""
        self._file: BinaryIO | None = None
        # Network chunks are small (~64 KiB); one thread hop per MiB instead of per chunk.
        self._buffer = bytearray()

    def _open(self) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return open(self.path, "xb")

    def _write(self, chunk: bytes) -> None:
        if self._file is None:
            self._file = self._open()
        self._file.write(chunk)
        self._hash.update(chunk)

    async def write(self, chunk: bytes) -> None:
        if self._size + len(chunk) > self.max_bytes:
            await self.abort()
            raise TooLarge(self.max_bytes)
        self._size += len(chunk)
        if len(self._head) < HEAD_BYTES:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
        self._buffer += chunk
        if len(self._buffer) >= WRITE_BUFFER:
            await self._flush()

    async def _flush(self) -> None:
        if self._buffer:
            data, self._buffer = bytes(self._buffer), bytearray()
            await anyio.to_thread.run_sync(self._write, data)

    def _finish(self) -> None:
        if self._file is None:
            self._file = self._open()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    async def finish(self) -> TempBlob:
        """Make the bytes durable (fsync) and describe them."""
        await self._flush()
        await anyio.to_thread.run_sync(self._finish)
        return TempBlob(self.name, self._size, self._hash.hexdigest(), self._head)

    def _abort(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)

    async def abort(self) -> None:
        await anyio.to_thread.run_sync(self._abort)


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return f"the files root {self.root}"

    def writer(self, max_bytes: int) -> LocalTempWriter:
        return LocalTempWriter(self.root, max_bytes)

    def _path(self, entity: str, sha256: str) -> Path:
        """Where a placed blob lives (private: callers go through the interface)."""
        return self.root.joinpath(*blob_parts(entity, sha256))

    def _temp_path(self, name: str) -> Path:
        return self.root / temp_key(name)

    def _place(self, entity: str, blob: TempBlob) -> None:
        target = self._path(entity, blob.sha256)
        if target.exists():
            return  # dedup: the caller drops its temp file after commit
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            # A hard link: atomic like rename, and the temp stays until the row commits, so a
            # blob collected in between can be placed again from it.
            os.link(self._temp_path(blob.name), target)
        except FileExistsError:
            return
        _fsync_dir(target.parent)

    async def place(self, entity: str, blob: TempBlob) -> None:
        await anyio.to_thread.run_sync(self._place, entity, blob)

    async def discard(self, blob: TempBlob) -> None:
        path = self._temp_path(blob.name)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    @contextlib.contextmanager
    def temp_reader(self, blob: TempBlob) -> Iterator[BinaryIO]:
        with open(self._temp_path(blob.name), "rb", buffering=WRITE_BUFFER) as handle:
            yield handle

    async def exists(self, entity: str, sha256: str) -> bool:
        return await anyio.to_thread.run_sync(self._path(entity, sha256).is_file)

    def _size(self, entity: str, sha256: str) -> int | None:
        try:
            return self._path(entity, sha256).stat().st_size
        except FileNotFoundError:
            return None

    async def size_of(self, entity: str, sha256: str) -> int | None:
        return await anyio.to_thread.run_sync(self._size, entity, sha256)

    async def open(
        self, entity: str, sha256: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self._path(entity, sha256)
        try:
            handle = await anyio.open_file(path, "rb", buffering=0)
        except FileNotFoundError:
            raise BlobMissing(f"{entity}/{sha256}") from None
        try:
            if start:
                await handle.seek(start)
            position = start
            while end is None or position < end:
                wanted = READ_CHUNK if end is None else min(READ_CHUNK, end - position)
                chunk = await handle.read(wanted)
                if not chunk:
                    return
                position += len(chunk)
                yield chunk
        finally:
            with anyio.CancelScope(shield=True):  # closing must finish on a cancelled download
                await handle.aclose()

    async def download_url(
        self,
        entity: str,
        sha256: str,
        *,
        content_type: str,
        content_disposition: str,
        cache_control: str,
        expires_in: int,
    ) -> str | None:
        return None  # the files root is ours alone: downloads stream through the server

    def _delete(self, entity: str, sha256: str) -> bool:
        target = self._path(entity, sha256)
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        for directory in (target.parent, target.parent.parent):
            try:
                directory.rmdir()  # only succeeds when empty
            except OSError:
                break
        return True

    async def delete(self, entity: str, sha256: str) -> bool:
        return await anyio.to_thread.run_sync(self._delete, entity, sha256)

    def _walk(self) -> Iterator[BlobEntry]:
        if not self.root.is_dir():
            return
        with os.scandir(self.root) as entities:
            for entity in sorted(entities, key=lambda e: e.name):
                if entity.name == TEMP_DIR or not entity.is_dir() or not valid_entity(entity.name):
                    continue
                for first in sorted(os.scandir(entity.path), key=lambda e: e.name):
                    if not first.is_dir():
                        continue
                    for second in sorted(os.scandir(first.path), key=lambda e: e.name):
                        if not second.is_dir():
                            continue
                        with os.scandir(second.path) as blobs:
                            for blob in blobs:
                                if blob.is_file() and valid_sha256(blob.name):
                                    stat = blob.stat()
                                    yield BlobEntry(
                                        entity.name, blob.name, stat.st_size, stat.st_mtime
                                    )

    def iterate(self) -> AsyncIterator[BlobEntry]:
        return _in_batches(self._walk())

    def _walk_temp(self) -> Iterator[TempEntry]:
        directory = self.root / TEMP_DIR
        if not directory.is_dir():
            return
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_file():
                    yield TempEntry(entry.name, entry.stat().st_mtime)

    def iterate_temp(self) -> AsyncIterator[TempEntry]:
        return _in_batches(self._walk_temp())

    async def remove_temp(self, entry: TempEntry) -> None:
        # Any file in .tmp (a crash can leave odd names): only never a path outside it.
        if "/" in entry.name or entry.name in {"", ".", ".."}:
            raise ValueError("not a temporary file's name")
        path = self.root / TEMP_DIR / entry.name
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    def _hash(self, entity: str, sha256: str) -> str:
        digest = hashlib.sha256()
        with open(self._path(entity, sha256), "rb") as handle:
            for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                digest.update(chunk)
        return digest.hexdigest()

    async def hash_of(self, entity: str, sha256: str) -> str:
        return await anyio.to_thread.run_sync(self._hash, entity, sha256)

    async def check(self) -> None:
        await anyio.to_thread.run_sync(probe_writable, self.root)

    async def close(self) -> None:
        return None


T = TypeVar("T")


async def _in_batches(walker: Iterator[T]) -> AsyncIterator[T]:
    """Drive a blocking directory walk from worker threads, 500 entries at a time."""
    while True:
        batch = await anyio.to_thread.run_sync(_take, walker, 500)
        if not batch:
            return
        for entry in batch:
            yield entry


def _take(iterator: Iterator[T], count: int) -> list[T]:
    batch: list[T] = []
    for item in iterator:
        batch.append(item)
        if len(batch) >= count:
            break
    return batch
