"""What a file really is, judged from its bytes - never from the client's name or header.

Images are opened with Pillow (format, dimensions as displayed after EXIF rotation, frame
count) without decoding their pixels; more than ``max_pixels`` is refused before any decoding,
which is what a decompression bomb relies on.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

#: Raster formats we accept as images and may show inline: browsers render them, none runs code.
SAFE_IMAGE_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}
INLINE_TYPES = frozenset(SAFE_IMAGE_TYPES.values())

#: A few signatures for entities that take any file; everything else is octet-stream.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
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
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def probe_image(path: Path, *, max_pixels: int) -> Probe:
    """Identify a raster image in a worker thread; refuse anything else."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                kind = image.format or ""
                if kind not in SAFE_IMAGE_TYPES:
                    raise NotAcceptable(
                        f"{kind or 'this'} images are not accepted: use JPEG, PNG, GIF or WebP"
                    )
                width, height = image.size
                if width * height > max_pixels:
                    raise NotAcceptable(
                        f"the image is {width}x{height}; at most {max_pixels} pixels are accepted"
                    )
                image.verify()  # structure and checksums, without decoding the pixels
            with Image.open(path) as image:  # verify() leaves the image unusable: reopen
                frames = int(getattr(image, "n_frames", 1))
                orientation = image.getexif().get(_EXIF_ORIENTATION)
    except NotAcceptable:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise NotAcceptable(
            f"the image has too many pixels; at most {max_pixels} pixels are accepted"
        ) from None
    except UnidentifiedImageError:
        raise NotAcceptable("the file is not an image we can read") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise NotAcceptable("the image is damaged or truncated") from None
    if orientation in _ROTATED:
        width, height = height, width
    return Probe(SAFE_IMAGE_TYPES[kind], width, height, frames)
