"""The blob store interface: content-addressed bytes per storage entity.

Uploads are streamed into a temporary blob first (hashed and counted on the way, stopped at the
limit), made durable, and only then placed at their content address inside the database
transaction that records them. Backends: local disk (``app.storage.local``) and S3-compatible
object storage (``app.storage.s3``).

Nothing here names a place on a disk: bytes go out through ``open`` (a byte range, streamed),
``temp_reader`` (a blocking reader for the image probe's worker thread) or ``download_url``
(a URL the client fetches itself, where the backend can make one); the checker and the garbage
collector see ``iterate``, ``iterate_temp``, ``size_of`` and ``hash_of``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol


class TooLarge(Exception):
    """The stream passed its limit; nothing past the limit was written, nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file exceeds {limit} bytes")
        self.limit = limit


class BlobMissing(Exception):
    """A placed blob that should be there is not (``open`` of a missing blob)."""


@dataclass(frozen=True, slots=True)
class TempBlob:
    """An upload in progress, complete and durable but not yet at its content address."""

    name: str  # the backend's name for it (a hex uuid), unique
    size: int
    sha256: str
    head: bytes  # the first bytes, for type sniffing


@dataclass(frozen=True, slots=True)
class BlobEntry:
    """A placed blob, as the checker and the garbage collector see it."""

    entity: str
    sha256: str
    size: int
    modified: float


@dataclass(frozen=True, slots=True)
class TempEntry:
    """A temporary blob found by ``iterate_temp``: an upload in progress, or abandoned."""

    name: str
    modified: float  # last written (for an unfinished multipart upload: when it started)
    #: Whatever else the backend needs to remove it (S3: an unfinished upload's id).
    handle: str = ""


class TempWriter(Protocol):
    async def write(self, chunk: bytes) -> None:
        """Append; raises TooLarge past the limit (having removed what was written)."""
        ...

    async def finish(self) -> TempBlob:
        """Make the bytes durable and describe them."""
        ...

    async def abort(self) -> None:
        """Remove whatever was written; safe to call at any point, and more than once."""
        ...


class BlobStore(Protocol):
    def writer(self, max_bytes: int) -> TempWriter:
        """Start streaming a new temporary blob; ``write`` raises TooLarge past ``max_bytes``."""
        ...

    async def place(self, entity: str, blob: TempBlob) -> None:
        """Put the blob at its content address (or find it already there: dedup). The
        temporary blob stays until ``discard``: a blob collected before the row commits can
        be placed again from it."""
        ...

    async def discard(self, blob: TempBlob) -> None: ...

    def temp_reader(self, blob: TempBlob) -> AbstractContextManager[BinaryIO]:
        """A blocking, seekable reader of a temporary blob, for code that runs in a worker
        thread started with ``anyio.to_thread`` (the image probe)."""
        ...

    async def exists(self, entity: str, sha256: str) -> bool: ...

    async def size_of(self, entity: str, sha256: str) -> int | None:
        """The placed blob's size in bytes, or None when it is missing."""
        ...

    def open(
        self, entity: str, sha256: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes ``[start, end)`` of a placed blob (to its end when ``end`` is None),
        streamed in chunks. Raises BlobMissing from the first iteration if it is not there."""
        ...

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
        """A URL the client may fetch the blob from itself, answering with these headers, for
        ``expires_in`` seconds - or None: serve it through ``open``."""
        ...

    async def delete(self, entity: str, sha256: str) -> bool:
        """Remove a placed blob; False if it was not there."""
        ...

    def iterate(self) -> AsyncIterator[BlobEntry]:
        """Every placed blob, streamed (never all in memory)."""
        ...

    def iterate_temp(self) -> AsyncIterator[TempEntry]:
        """Temporary blobs: uploads in progress, or abandoned by a crash."""
        ...

    async def remove_temp(self, entry: TempEntry) -> None: ...

    async def hash_of(self, entity: str, sha256: str) -> str:
        """Re-read a placed blob and return its actual SHA-256 (for fsck --verify)."""
        ...

    async def check(self) -> None:
        """Raise (OSError, or the backend's error) unless the store can be written now."""
        ...

    def describe(self) -> str:
        """Where the blobs live, for people (messages, logs)."""
        ...

    async def close(self) -> None: ...
