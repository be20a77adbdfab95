"""Image files walked through their structure - chunks, segments, blocks - never their pixels.

Each walker reads one format from a ``Reader`` in pieces of at most ``PIECE`` bytes, checks
what the format lets a reader check without decoding (lengths, CRCs, the zlib stream of a PNG,
the terminating marker, block or chunk), refuses more than ``max_pixels`` as soon as the
dimensions are known, and returns the facts a browser would show: type, size, frame count and
the raw EXIF block (for the orientation). Nothing here holds more than ``PIECE`` bytes of the
file at once; the only other things held are headers, palettes and EXIF (at most ``EXIF_MAX``).
"""

from __future__ import annotations

from app.storage.imageformats.common import (
    EXIF_MAX,
    PIECE,
    Damaged,
    ImageFacts,
    Reader,
    TooManyPixels,
    Unsupported,
)

__all__ = ["EXIF_MAX", "PIECE", "Damaged", "ImageFacts", "Reader", "TooManyPixels", "Unsupported"]
