"""What the format walkers share: bounded reads over a file, their verdicts and their result."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

#: The most bytes of an image any walker holds at once (and the size of a read).
PIECE = 1 << 20
#: EXIF blocks beyond this are refused: a JPEG cannot hold more than 64 KiB of it, and
#: nothing needs more than a few; past this size it is a way to make us hold data.
EXIF_MAX = 1 << 20


class Damaged(Exception):
    """The bytes break their format's structure: truncated, cut short or corrupted."""


class Unsupported(Exception):
    """Well-formed, but a variant we do not take; the message says which."""


class TooManyPixels(Exception):
    def __init__(self, width: int, height: int) -> None:
        super().__init__(f"{width}x{height}")
        self.width, self.height = width, height


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What a walker learnt: dimensions as stored (before any EXIF rotation)."""

    content_type: str
    width: int
    height: int
    frames: int = 1
    exif: bytes | None = None


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """Refuse a decompression bomb as soon as its dimensions are read."""
    if width * height > max_pixels:
        raise TooManyPixels(width, height)


class Reader:
    """Exact reads over an image file: running past its end is damage, never a short read."""

    def __init__(self, handle: BinaryIO, size: int | None = None) -> None:
        self._handle = handle
        self.size = os.fstat(handle.fileno()).st_size if size is None else size
        self.position = handle.tell()

    def remaining(self) -> int:
        return self.size - self.position

    def read(self, count: int, what: str) -> bytes:
        """``count`` bytes (callers keep it small: headers, palettes, EXIF)."""
        if count > self.remaining():
            raise Damaged(f"the file ends inside {what}")
        data = self._handle.read(count)
        self.position += count
        return data

    def skip(self, count: int, what: str) -> None:
        if count > self.remaining():
            raise Damaged(f"the file ends inside {what}")
        self.seek(self.position + count)

    def seek(self, position: int) -> None:
        self._handle.seek(position)
        self.position = position

    def pieces(self, count: int, what: str) -> Iterator[bytes]:
        """The next ``count`` bytes, ``PIECE`` at a time: for data to check, not to keep."""
        if count > self.remaining():
            raise Damaged(f"the file ends inside {what}")
        while count:
            piece = self._handle.read(min(count, PIECE))
            self.position += len(piece)
            count -= len(piece)
            yield piece

    def block(self, limit: int = PIECE) -> bytes:
        """Up to ``limit`` bytes from here, fewer only at the end of the file: for scanning."""
        data = self._handle.read(min(limit, self.remaining()))
        self.position += len(data)
        return data


def growing(start: int = 4096) -> Iterator[int]:
    """Block sizes for a scan that usually ends soon: 4 KiB first, doubling up to PIECE.

    A file of many short runs (sub-block chains, scans) then costs reads of its own size,
    not a full piece per run.
    """
    size = start
    while True:
        yield size
        size = min(PIECE, size * 2)
