"""What a file really is, judged from its bytes - never from the client's name or header.

Images (JPEG, PNG, GIF, WebP, animated ones too) are judged by walking their structure,
never by decoding their pixels (``app.storage.imageformats``), in pieces of at most 1 MiB
whatever the file holds:

* read: every PNG chunk (length, type, CRC; IHDR first, IEND present) and its zlib image
  stream, inflated piece by piece and only counted - it must end, checksum and all, exactly
  at the size IHDR implies (APNG frames likewise); every JPEG marker segment and the
  entropy-coded data, scanned for markers up to the EOI that must close it; every GIF block
  and sub-block up to the trailer; the WebP RIFF container against the file's length, every
  chunk inside it and the VP8/VP8L bitstream headers; the EXIF block (eXIf chunk, APP1
  segment, EXIF chunk), parsed with Pillow's ``Exif`` for the orientation.
* not read: the pixels. Nothing is decoded, so damage inside compressed JPEG, GIF or WebP
  data that keeps the structure whole goes unnoticed (a decoder would show it as noise), and
  XMP orientation, which browsers ignore, is ignored too.

More than ``max_pixels`` (width x height, for each frame too) is refused as soon as the
header giving it is read - before any inflating, which is what a decompression bomb relies on.
Dimensions are reported as displayed: EXIF orientations 5-8 swap width and height.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
    """Identify a raster image (in a worker thread: it reads the whole file); refuse the rest."""
    with path.open("rb", buffering=PIECE) as handle:
        head = handle.read(16)
        handle.seek(0)
        walker = _walker(head)
        try:
            facts = walker(Reader(handle), max_pixels)
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
