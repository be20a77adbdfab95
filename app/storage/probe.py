"""What a file really is, judged from its bytes - never from the client's name or header.

Images (JPEG, PNG, GIF, WebP, animated ones too) are judged by walking their structure,
never by decoding their pixels (``app.storage.imageformats``), reading at most 1 MiB at a
time and holding nothing else but headers, palettes and the EXIF block, whatever the file:

* read: every PNG chunk (length, type, CRC; IHDR first, IEND present) and its zlib image
  stream, inflated piece by piece and only counted - it must end, Adler-32 and all, exactly
  at the size IHDR implies (each APNG frame's fdAT stream likewise, against its fcTL size);
  every JPEG marker segment, and each scan's entropy-coded data scanned for the next marker,
  up to the EOI that must close the image; every GIF block and sub-block up to the trailer;
  the WebP RIFF size against the file, every chunk inside it, the VP8/VP8L bitstream headers
  (against the canvas or their animation frame); the first EXIF block (PNG eXIf chunk, JPEG
  APP1 segment, WebP EXIF chunk; at most 1 MiB), parsed with Pillow's ``Exif`` for the
  orientation alone.
* not read: the pixels - nothing is decoded, so damage inside compressed JPEG, GIF or WebP
  data that leaves the structure whole goes unnoticed (a browser shows it as noise); bytes
  after the image's end (past IEND, EOI, the GIF trailer, the RIFF size), which every reader
  ignores - a PNG with a page after it stays a PNG, stored under a ``.png`` name; XMP and
  PNG text-chunk orientations, which browsers ignore too.

More than ``max_pixels`` (width x height, and each frame's) is refused as soon as the
header giving it is read - before any inflating, which is what a decompression bomb relies on.
Dimensions are reported as displayed: EXIF orientations 5-8 swap width and height.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from app.storage.imageformats import (
    PIECE,
    Damaged,
    ImageFacts,
    Reader,
    TooManyPixels,
    Unsupported,
    gif,
    jpeg,
    png,
    webp,
)

#: Raster types we accept as images and may show inline: browsers render them, none runs code.
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

#: A few signatures for entities that take any file; everything else is octet-stream.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (png.SIGNATURE, "image/png"),
    (jpeg.SIGNATURE, "image/jpeg"),
    *((signature, "image/gif") for signature in gif.SIGNATURES),
)
_WALKERS: tuple[tuple[bytes, Callable[[Reader, int], ImageFacts]], ...] = (
    (png.SIGNATURE, png.walk),
    (jpeg.SIGNATURE, jpeg.walk),
    *((signature, gif.walk) for signature in gif.SIGNATURES),
)
#: Other image formats, recognised only to say so.
_OTHER_IMAGES: tuple[tuple[bytes, str], ...] = (
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "PSD"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
)
_EXIF_ORIENTATION = 0x0112
_ROTATED = {5, 6, 7, 8}  # orientations that swap width and height


class NotAcceptable(Exception):
    """The file is not what the storage entity takes; the message says why."""


@dataclass(frozen=True, slots=True)
class Probe:
    content_type: str
    width: int | None = None
    height: int | None = None
    frames: int = 1


def sniff(head: bytes) -> str:
    """A content type from the first bytes, for files that need not be images."""
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return content_type
    if webp.is_webp(head):
        return "image/webp"
    return "application/octet-stream"


def probe_image(path: Path, *, max_pixels: int) -> Probe:
    """Identify a raster image file (in a worker thread: it reads the whole file)."""
    with path.open("rb", buffering=PIECE) as handle:
        return probe_stream(handle, path.stat().st_size, max_pixels=max_pixels)


def probe_stream(handle: BinaryIO, size: int, *, max_pixels: int) -> Probe:
    """Identify a raster image from a seekable reader at its start, of ``size`` bytes (in a
    worker thread: it reads the whole image); refuse the rest."""
    head = handle.read(16)
    handle.seek(0)
    walker = _walker(head)
    try:
        facts = walker(Reader(handle, size), max_pixels)
    except TooManyPixels as bomb:
        raise NotAcceptable(
            f"the image is {bomb.width}x{bomb.height}; at most {max_pixels} pixels are accepted"
        ) from None
    except Unsupported as refused:
        raise NotAcceptable(str(refused)) from None
    except Damaged as damage:
        raise NotAcceptable(f"the image is damaged or truncated: {damage}") from None
    width, height = facts.width, facts.height
    if _orientation(facts.exif) in _ROTATED:
        width, height = height, width
    return Probe(facts.content_type, width, height, facts.frames)


def _walker(head: bytes) -> Callable[[Reader, int], ImageFacts]:
    for signature, walker in _WALKERS:
        if head.startswith(signature):
            return walker
    if webp.is_webp(head):
        return webp.walk
    for signature, name in _OTHER_IMAGES:
        if head.startswith(signature):
            raise NotAcceptable(f"{name} images are not accepted: use JPEG, PNG, GIF or WebP")
    raise NotAcceptable("the file is not an image we can read")


def _orientation(exif: bytes | None) -> int:
    """The EXIF orientation (1 when absent or unreadable: browsers then show it unturned)."""
    if not exif:
        return 1
    parsed = Image.Exif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about each damaged tag it skips
            parsed.load(exif)
    except (SyntaxError, ValueError, OSError, EOFError, struct.error):
        return 1
    value = parsed.get(_EXIF_ORIENTATION)
    return value if isinstance(value, int) else 1
