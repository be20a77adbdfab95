"""The blob store interface: content-addressed bytes per storage entity.

Uploads are streamed into a temporary blob first (hashed and counted on the way, stopped at the
limit), made durable, and only then placed at their content address inside the database
transaction that records them. Backends: local disk now, object storage later.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class TooLarge(Exception):
    """The stream passed its limit; nothing past the limit was written, nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file exceeds {limit} bytes")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class TempBlob:
    """An upload in progress, complete and durable but not yet at its content address."""

    key: uuid.UUID
    path: Path
    size: int
    sha256: str
    head: bytes  # the first bytes, for type sniffing


@dataclass(frozen=True, slots=True)
class BlobEntry:
    """A blob found on disk, for the checker and the garbage collector."""

    entity: str
    sha256: str
    size: int
    modified: float


class TempWriter(Protocol):
    async def write(self, chunk: bytes) -> None: ...

    async def finish(self) -> TempBlob: ...

    async def abort(self) -> None: ...


class BlobStore(Protocol):
    def writer(self, max_bytes: int) -> TempWriter:
        """Start streaming a new temporary blob; ``write`` raises TooLarge past ``max_bytes``."""
        ...

    async def place(self, entity: str, blob: TempBlob) -> None:
        """Move the blob to its content address (or find it already there: dedup)."""
        ...

    async def discard(self, blob: TempBlob) -> None: ...

    def path(self, entity: str, sha256: str) -> Path:
        """Where a placed blob lives (for serving with sendfile)."""
        ...

    async def exists(self, entity: str, sha256: str) -> bool: ...

    async def delete(self, entity: str, sha256: str) -> bool: ...

    def iterate(self) -> AsyncIterator[BlobEntry]:
        """Every placed blob, streamed (never all in memory)."""
        ...

    def iterate_temp(self) -> AsyncIterator[tuple[Path, float]]:
        """Temporary blobs (path, modified time): uploads in progress or abandoned."""
        ...

    async def hash_of(self, entity: str, sha256: str) -> str:
        """Re-read a placed blob and return its actual SHA-256 (for fsck --verify)."""
        ...
