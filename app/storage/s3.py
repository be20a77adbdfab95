"""The S3-compatible blob store (AWS S3, MinIO, Ceph RGW, R2, ...), through aiobotocore.

Keys under the bucket (and ``S3_PREFIX``), as on disk (``app.storage.addresses``)::

    <entity>/<h[0:2]>/<h[2:4]>/<h>      a blob, named by its SHA-256
    .tmp/<uuid>                         uploads, complete but not yet placed

An upload streams into ``.tmp/<uuid>``, hashed and counted on the way: the bytes gather in one
part buffer (``S3_PART_BYTES``, 8 MiB by default, at least S3's 5 MiB) that is sent as a part of
a multipart upload whenever it is full, so an upload holds one part in memory whatever its
size. A file smaller than one part is a single PUT. ``place`` is a server-side copy to the
content address (skipped when the address already holds the blob: dedup); the temporary object
stays until ``discard``, as the local store's temp file does. An upload that a crash cuts short
is an unfinished multipart upload under ``.tmp/``: ``iterate_temp`` lists those too, and
``gc`` aborts them (a bucket lifecycle rule aborting incomplete uploads does as well).

Downloads stream through the server (``open``: a ranged GET), or - ``S3_SERVE=redirect`` - the
client is sent to a presigned GET that carries the response's type, disposition and caching.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import io
import math
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import aiohttp
import anyio.from_thread
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from app.storage.addresses import (
    TEMP_DIR,
    blob_key,
    parse_blob_key,
    temp_key,
    valid_entity,
)
from app.storage.blobs import BlobEntry, BlobMissing, TempBlob, TempEntry, TooLarge

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

HEAD_BYTES = 4096
#: S3's smallest part (all but the last), and its most parts per upload.
MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PARTS = 10_000
#: The largest object CopyObject copies in one request; larger ones are copied in parts.
COPY_LIMIT = 5 * 1024**3
COPY_PART_BYTES = 512 * 1024 * 1024
READ_CHUNK = 256 * 1024
#: What the image probe's reader fetches per ranged GET (it reads 1 MiB pieces).
PROBE_READ = 1024 * 1024
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
#: What a failing store raises: network trouble and refusals alike.
S3_ERRORS = (BotoCoreError, ClientError, aiohttp.ClientError, asyncio.TimeoutError)


def _missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _MISSING


def _unavailable(error: Exception) -> OSError:
    """Storage trouble as an OSError (EIO): the upload path answers those with a 503."""
    return OSError(errno.EIO, f"the object store failed: {error}")


def temp_name(now: float | None = None) -> str:
    """A hex uuid whose first 48 bits are the time in ms (as a UUIDv7's): an unfinished upload
    tells its age by its name too, where a server's listing does not (moto's says 2010)."""
    millis = int((time.time() if now is None else now) * 1000)
    return f"{millis:012x}{uuid.uuid4().hex[12:]}"


def started(name: str) -> float | None:
    """When ``temp_name`` made the name; None for other names (or absurd times)."""
    try:
        seconds = int(name[:12], 16) / 1000
    except ValueError:
        return None
    return seconds if 1e9 < seconds < time.time() + 86400 else None


class _PartBody(io.RawIOBase):
    """A part's buffer as the request body, read through a memoryview: nothing copies the
    part whole (a bytes body would be copied again by the transport; measured, a bytearray
    body peaked at 3.6 parts held, this one at 1.3)."""

    def __init__(self, data: bytearray) -> None:
        self._view = memoryview(data)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}
        self._position = max(0, base[whence] + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        count = max(0, min(len(buffer), len(self._view) - self._position))
        buffer[:count] = self._view[self._position : self._position + count]
        self._position += count
        return count

    def close(self) -> None:
        self._view.release()
        super().close()


class S3TempWriter:
    def __init__(self, store: S3BlobStore, max_bytes: int) -> None:
        self.store = store
        self.name = temp_name()
        self.key = store.key(temp_key(self.name))
        self.max_bytes = max_bytes
        # One part at most holds ``part_bytes``; an upload has at most MAX_PARTS of them.
        self.part_bytes = max(store.part_bytes, math.ceil(max_bytes / MAX_PARTS))
        self._hash = hashlib.sha256()
        self._size = 0
        self._head = b""
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._finished = False

    async def write(self, chunk: bytes) -> None:
        if self._size + len(chunk) > self.max_bytes:
            await self.abort()
            raise TooLarge(self.max_bytes)
        self._size += len(chunk)
        self._hash.update(chunk)
        if len(self._head) < HEAD_BYTES:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
        self._buffer += chunk
        if len(self._buffer) >= self.part_bytes:
            await self._send_part()

    async def _send_part(self) -> None:
        # The buffer goes as it is (no copy), and a new one starts: one part in memory.
        body, self._buffer = self._buffer, bytearray()
        try:
            client = await self.store.client()
            if self._upload_id is None:
                started = await client.create_multipart_upload(
                    Bucket=self.store.bucket, Key=self.key, ContentType="application/octet-stream"
                )
                self._upload_id = started["UploadId"]
            number = len(self._parts) + 1
            sent = await client.upload_part(
                Bucket=self.store.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=cast(BinaryIO, _PartBody(body)),
            )
        except S3_ERRORS as exc:
            raise _unavailable(exc) from exc
        self._parts.append({"ETag": sent["ETag"], "PartNumber": number})

    async def finish(self) -> TempBlob:
        try:
            if self._upload_id is None:
                client = await self.store.client()
                await client.put_object(
                    Bucket=self.store.bucket,
                    Key=self.key,
                    Body=cast(BinaryIO, _PartBody(self._buffer)),
                    ContentType="application/octet-stream",
                )
                self._buffer = bytearray()
            else:
                if self._buffer:
                    await self._send_part()
                client = await self.store.client()
                await client.complete_multipart_upload(
                    Bucket=self.store.bucket,
                    Key=self.key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},  # type: ignore[typeddict-item]
                )
        except S3_ERRORS as exc:
            raise _unavailable(exc) from exc
        self._finished = True
        return TempBlob(self.name, self._size, self._hash.hexdigest(), self._head)

    async def abort(self) -> None:
        self._buffer = bytearray()
        if self._finished:  # a complete temporary object: the same as discarding it
            self._finished = False
            client = await self.store.client()
            await client.delete_object(Bucket=self.store.bucket, Key=self.key)
        elif self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            client = await self.store.client()
            with contextlib.suppress(ClientError):  # (already aborted)
                await client.abort_multipart_upload(
                    Bucket=self.store.bucket, Key=self.key, UploadId=upload_id
                )


class _RangedReader(io.RawIOBase):
    """A blocking, seekable view of an object, for a worker thread: each read is a ranged GET
    run on the event loop (``anyio.from_thread``). Wrapped in a BufferedReader of PROBE_READ."""

    def __init__(self, store: S3BlobStore, key: str, size: int) -> None:
        self.store, self.key, self.size = store, key, size
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.size - self.position)
        if count <= 0:
            return 0
        data = anyio.from_thread.run(
            self.store.read_range, self.key, self.position, self.position + count
        )
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


class S3BlobStore:
    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        addressing_style: str = "auto",
        part_bytes: int = 8 * 1024 * 1024,
        redirect: bool = False,
    ) -> None:
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"a part must be at least {MIN_PART_BYTES} bytes")
        self.bucket, self.prefix = bucket, prefix
        self.part_bytes, self.redirect = part_bytes, redirect
        self._options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
            "config": AioConfig(
                s3={"addressing_style": addressing_style},
                signature_version="s3v4",
                retries={"mode": "standard", "max_attempts": 3},
                connect_timeout=5,
                read_timeout=60,
                max_pool_connections=64,
                # Checksums only where S3 requires them: several S3-compatible servers refuse
                # the trailing CRC checksums botocore sends by default. The SHA-256 we compute
                # while streaming is the integrity check (fsck --verify re-reads it).
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        }
        self._stack = contextlib.AsyncExitStack()
        self._client: S3Client | None = None
        self._lock = asyncio.Lock()

    def describe(self) -> str:
        where = self._options["endpoint_url"] or "S3"
        return f"the bucket {self.bucket!r} at {where}" + (
            f" under {self.prefix!r}" if self.prefix else ""
        )

    def key(self, address: str) -> str:
        return self.prefix + address

    async def client(self) -> S3Client:
        """One client (and connection pool) per store, made on first use, on the running loop."""
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    context = get_session().create_client("s3", **self._options)
                    self._client = await self._stack.enter_async_context(context)
        return self._client

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()
        self._stack = contextlib.AsyncExitStack()

    def writer(self, max_bytes: int) -> S3TempWriter:
        return S3TempWriter(self, max_bytes)

    async def _head(self, key: str) -> dict[str, Any] | None:
        client = await self.client()
        try:
            return dict(await client.head_object(Bucket=self.bucket, Key=key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise

    async def place(self, entity: str, blob: TempBlob) -> None:
        target = self.key(blob_key(entity, blob.sha256))
        if await self._head(target) is not None:
            return  # dedup: the caller drops its temporary object after commit
        source = self.key(temp_key(blob.name))
        client = await self.client()
        if blob.size <= COPY_LIMIT:
            await client.copy_object(
                Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source}
            )
            return
        started = await client.create_multipart_upload(
            Bucket=self.bucket, Key=target, ContentType="application/octet-stream"
        )
        upload_id = started["UploadId"]
        parts = []
        try:
            for number, first in enumerate(range(0, blob.size, COPY_PART_BYTES), start=1):
                last = min(first + COPY_PART_BYTES, blob.size) - 1
                copied = await client.upload_part_copy(
                    Bucket=self.bucket,
                    Key=target,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource={"Bucket": self.bucket, "Key": source},
                    CopySourceRange=f"bytes={first}-{last}",
                )
                parts.append({"ETag": copied["CopyPartResult"]["ETag"], "PartNumber": number})
            await client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=target,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await client.abort_multipart_upload(
                    Bucket=self.bucket, Key=target, UploadId=upload_id
                )
            raise

    async def discard(self, blob: TempBlob) -> None:
        client = await self.client()
        await client.delete_object(Bucket=self.bucket, Key=self.key(temp_key(blob.name)))

    @contextlib.contextmanager
    def temp_reader(self, blob: TempBlob) -> Iterator[BinaryIO]:
        raw = _RangedReader(self, self.key(temp_key(blob.name)), blob.size)
        with io.BufferedReader(raw, buffer_size=PROBE_READ) as handle:
            yield handle

    async def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of an object, in memory (callers keep ranges small)."""
        client = await self.client()
        response = await client.get_object(Bucket=self.bucket, Key=key, Range=_range(start, end))
        async with response["Body"] as body:
            return await body.read()

    async def exists(self, entity: str, sha256: str) -> bool:
        return await self.size_of(entity, sha256) is not None

    async def size_of(self, entity: str, sha256: str) -> int | None:
        head = await self._head(self.key(blob_key(entity, sha256)))
        return None if head is None else int(head["ContentLength"])

    async def open(
        self, entity: str, sha256: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        key = self.key(blob_key(entity, sha256))
        if end is not None and end <= start:
            return
        client = await self.client()
        try:
            if start or end is not None:
                response = await client.get_object(
                    Bucket=self.bucket, Key=key, Range=_range(start, end)
                )
            else:
                response = await client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                raise BlobMissing(f"{entity}/{sha256}") from None
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return  # starts at or past the end: nothing
            raise
        body = response["Body"]
        try:
            async for chunk in body.iter_chunks(READ_CHUNK):
                yield chunk
        finally:
            body.close()

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
        if not self.redirect:
            return None
        client = await self.client()
        return await client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self.key(blob_key(entity, sha256)),
                "ResponseContentType": content_type,
                "ResponseContentDisposition": content_disposition,
                "ResponseCacheControl": cache_control,
            },
            ExpiresIn=expires_in,
        )

    async def delete(self, entity: str, sha256: str) -> bool:
        key = self.key(blob_key(entity, sha256))
        if await self._head(key) is None:
            return False
        client = await self.client()
        await client.delete_object(Bucket=self.bucket, Key=key)
        return True

    async def _entities(self) -> list[str]:
        client = await self.client()
        entities = []
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                name = common.get("Prefix", "")[len(self.prefix) :].rstrip("/")
                if valid_entity(name):
                    entities.append(name)
        return sorted(entities)

    async def iterate(self) -> AsyncIterator[BlobEntry]:
        client = await self.client()
        paginator = client.get_paginator("list_objects_v2")
        for entity in await self._entities():
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.key(f"{entity}/")):
                for item in page.get("Contents", []):
                    parsed = parse_blob_key(item["Key"][len(self.prefix) :])
                    if parsed is not None:
                        yield BlobEntry(
                            parsed[0], parsed[1], item["Size"], item["LastModified"].timestamp()
                        )

    async def iterate_temp(self) -> AsyncIterator[TempEntry]:
        client = await self.client()
        prefix = self.key(f"{TEMP_DIR}/")
        objects = client.get_paginator("list_objects_v2")
        async for page in objects.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield TempEntry(item["Key"][len(prefix) :], item["LastModified"].timestamp())
        uploads = client.get_paginator("list_multipart_uploads")
        async for listing in uploads.paginate(Bucket=self.bucket, Prefix=prefix):
            for upload in listing.get("Uploads", []):
                name = upload["Key"][len(prefix) :]
                # The later of the two: an upload is as young as its youngest evidence, and
                # gc must never abort one that is still streaming.
                initiated = max(upload["Initiated"].timestamp(), started(name) or 0)
                yield TempEntry(name, initiated, upload["UploadId"])

    async def remove_temp(self, entry: TempEntry) -> None:
        if not entry.name or "/" in entry.name:
            raise ValueError("not a temporary object's name")
        key = self.key(f"{TEMP_DIR}/{entry.name}")
        client = await self.client()
        if entry.handle:
            with contextlib.suppress(ClientError):  # finished or aborted meanwhile
                await client.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=entry.handle
                )
            return
        await client.delete_object(Bucket=self.bucket, Key=key)

    async def hash_of(self, entity: str, sha256: str) -> str:
        digest = hashlib.sha256()
        async for chunk in self.open(entity, sha256):
            digest.update(chunk)
        return digest.hexdigest()

    async def check(self) -> None:
        """Write and remove a small object: the bucket exists, and these credentials may."""
        client = await self.client()
        key = self.key(temp_key(uuid.uuid4().hex))
        await client.put_object(Bucket=self.bucket, Key=key, Body=b"ok")
        await client.delete_object(Bucket=self.bucket, Key=key)


def _range(start: int, end: int | None) -> str:
    return f"bytes={start}-" + ("" if end is None else str(end - 1))
