"""JPEG: the marker segments from SOI to EOI, the entropy-coded data scanned but not decoded.

A JPEG cut anywhere before its end lacks the EOI marker that must follow the last scan, so
walking the segments (skipping each by its length) and scanning each scan's data for the next
marker (an 0xFF not followed by a stuffed 0x00 or a restart marker) finds truncation without
decoding. Stray bytes between segments are skipped, as libjpeg and Pillow do.
"""

from __future__ import annotations

import re
import struct

from app.storage.imageformats.common import (
    Damaged,
    ImageFacts,
    Reader,
    Unsupported,
    check_pixels,
    growing,
)

SIGNATURE = b"\xff\xd8\xff"
_SOI, _EOI, _SOS, _APP1, _TEM = 0xD8, 0xD9, 0xDA, 0xE1, 0x01
_RST = range(0xD0, 0xD8)
#: Frame headers: baseline, extended, progressive, lossless (Huffman or arithmetic coding).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC9, 0xCA, 0xCB}
#: Frame headers of hierarchical (differential) JPEG, which browsers do not decode.
_SOF_DIFFERENTIAL = {0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF}
#: Where entropy-coded data (or junk between segments) ends: an 0xFF that starts a marker.
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_EXIF = b"Exif\x00\x00"
#: Real JPEGs have tens of segments (hundreds with many progressive scans); a file of millions
#: of empty ones would only cost us time.
MAX_SEGMENTS = 10_000


def walk(reader: Reader, max_pixels: int) -> ImageFacts:
    if reader.read(2, "the JPEG signature") != SIGNATURE[:2]:
        raise Damaged("the JPEG signature is broken")
    size: tuple[int, int] | None = None
    scans = 0
    exif: bytes | None = None
    segments = 0
    while (marker := _next_marker(reader)) != _EOI:
        segments += 1
        if segments > MAX_SEGMENTS:
            raise Unsupported(f"JPEGs of more than {MAX_SEGMENTS} segments are not accepted")
        if marker == _TEM or marker in _RST:
            continue  # no length, nothing to check
        if marker == _SOI:
            raise Damaged("the JPEG starts again inside itself")
        (length,) = struct.unpack(">H", reader.read(2, "a JPEG segment"))
        if length < 2:
            raise Damaged("the JPEG has a segment with a broken length")
        if marker in _SOF or marker in _SOF_DIFFERENTIAL:
            if size is not None:
                raise Damaged("the JPEG has two frame headers")
            size = _frame_header(marker, reader.read(length - 2, "a JPEG frame header"))
            check_pixels(*size, max_pixels)
        elif marker == _SOS:
            if size is None:
                raise Damaged("the JPEG has a scan before its frame header")
            _scan_header(reader.read(length - 2, "a JPEG scan header"))
            _skip_entropy_coded_data(reader)
            scans += 1
        elif marker == _APP1 and exif is None:
            data = reader.read(length - 2, "a JPEG APP1 segment")
            exif = data[len(_EXIF) :] if data.startswith(_EXIF) else None
        else:
            reader.skip(length - 2, "a JPEG segment")
    if size is None or not scans:
        raise Damaged("the JPEG ends before its image")
    return ImageFacts("image/jpeg", *size, exif=exif)


def _next_marker(reader: Reader) -> int:
    """The marker code at (or, past stray bytes, after) the reader's position."""
    while True:
        pair = reader.read(2, "the JPEG's segments")
        if pair[0] != 0xFF:
            reader.seek(reader.position - 1)
            _skip_entropy_coded_data(reader)  # junk between segments: find the next marker
            continue
        code = pair[1]
        while code == 0xFF:  # fill bytes before the marker code
            code = reader.read(1, "the JPEG's segments")[0]
        if code:  # 0xFF 0x00 outside a scan is junk as well
            return code


def _frame_header(marker: int, data: bytes) -> tuple[int, int]:
    if len(data) < 6 or len(data) != 6 + 3 * data[5] or not data[5]:
        raise Damaged("the JPEG's frame header has a broken length")
    if marker in _SOF_DIFFERENTIAL:
        raise Unsupported("hierarchical JPEGs are not accepted")
    height, width = struct.unpack(">HH", data[1:5])
    if not width:
        raise Damaged("the JPEG's frame header gives no width")
    if not height:
        raise Unsupported("JPEGs whose height comes after the image data are not accepted")
    return width, height


def _scan_header(data: bytes) -> None:
    if not data or len(data) != 4 + 2 * data[0] or not data[0]:
        raise Damaged("the JPEG's scan header has a broken length")


def _skip_entropy_coded_data(reader: Reader) -> None:
    """Move to the 0xFF of the next marker; the file ending first is truncation."""
    for size in growing():
        start = reader.position
        found = _MARKER.search(block := reader.block(size))
        if found:
            reader.seek(start + found.start())
            return
        if reader.position == reader.size:
            raise Damaged("the JPEG ends inside its image data, before its end marker")
        if block.endswith(b"\xff"):  # the next byte decides whether a marker starts here
            reader.seek(reader.position - 1)
