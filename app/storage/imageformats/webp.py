"""WebP: the RIFF container against the file, every chunk inside it, the bitstream headers.

A cut WebP is shorter than its RIFF header says. Inside, the chunks must tile the container
exactly; the lossy (VP8) and lossless (VP8L) bitstreams' headers give the dimensions and must
agree with the canvas (VP8X) or with their animation frame (ANMF). The compressed image data
itself is not read: only a decoder could judge it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from app.storage.imageformats.common import (
    EXIF_MAX,
    Damaged,
    ImageFacts,
    Reader,
    Unsupported,
    check_pixels,
)

_BITSTREAMS = (b"VP8 ", b"VP8L")
_ANIMATED = 0x02


def is_webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def walk(reader: Reader, max_pixels: int) -> ImageFacts:
    riff, size, webp = struct.unpack("<4sI4s", reader.read(12, "the WebP header"))
    if riff != b"RIFF" or webp != b"WEBP":
        raise Damaged("the WebP signature is broken")
    end = 8 + size
    if end > reader.size:
        raise Damaged("the WebP file is shorter than its header says: it is cut short")
    chunks = _chunks(reader, end)
    first = next(chunks, None)
    if first is None:
        raise Damaged("the WebP holds no chunk")
    kind, length = first
    if kind in _BITSTREAMS:
        width, height = _bitstream(reader, kind, length)
        check_pixels(width, height, max_pixels)
        for _ in chunks:
            pass  # later chunks only need to fit the container
        return ImageFacts("image/webp", width, height)
    if kind != b"VP8X" or length < 10:
        raise Damaged("the WebP does not start with an image chunk")
    flags, width, height = _extended_header(reader.read(10, "the WebP's VP8X chunk"))
    check_pixels(width, height, max_pixels)
    frames, exif = _extended_body(reader, chunks, (width, height), flags & _ANIMATED, max_pixels)
    return ImageFacts("image/webp", width, height, frames, exif)


def _extended_header(data: bytes) -> tuple[int, int, int]:
    return data[0], 1 + _u24(data, 4), 1 + _u24(data, 7)


def _extended_body(
    reader: Reader,
    chunks: Iterator[tuple[bytes, int]],
    canvas: tuple[int, int],
    animated: int,
    max_pixels: int,
) -> tuple[int, bytes | None]:
    """(frame count, EXIF) of an extended WebP, its frames and image checked against the canvas."""
    frames, image, exif = 0, None, None
    for kind, length in chunks:
        if kind == b"ANMF":
            _animation_frame(reader, length, canvas, max_pixels)
            frames += 1
        elif kind in _BITSTREAMS and image is None:
            image = _bitstream(reader, kind, length)
        elif kind == b"EXIF" and exif is None:
            if length > EXIF_MAX:
                raise Unsupported(f"the image's EXIF block is larger than {EXIF_MAX} bytes")
            exif = reader.read(length, "the WebP's EXIF chunk")
    if animated:
        if not frames:
            raise Damaged("the animated WebP holds no frame")
        return frames, exif
    if image != canvas:
        raise Damaged("the WebP's image does not match its canvas")
    return 1, exif


def _animation_frame(reader: Reader, length: int, canvas: tuple[int, int], max_pixels: int) -> None:
    if length < 16:
        raise Damaged("the WebP has a broken animation frame")
    header = reader.read(16, "a WebP animation frame")
    x, y = 2 * _u24(header, 0), 2 * _u24(header, 3)
    width, height = 1 + _u24(header, 6), 1 + _u24(header, 9)
    check_pixels(width, height, max_pixels)
    if x + width > canvas[0] or y + height > canvas[1]:
        raise Damaged("the WebP has an animation frame outside its canvas")
    image = None
    for kind, size in _chunks(reader, reader.position + length - 16):
        if kind in _BITSTREAMS and image is None:
            image = _bitstream(reader, kind, size)
    if image != (width, height):
        raise Damaged("the WebP has an animation frame whose image does not fill it")


def _bitstream(reader: Reader, kind: bytes, length: int) -> tuple[int, int]:
    """The dimensions a VP8 or VP8L bitstream's header gives, its header checked."""
    if kind == b"VP8L":
        if length < 5:
            raise Damaged("the WebP's lossless image is cut short")
        header = reader.read(5, "a WebP lossless image")
        (bits,) = struct.unpack("<I", header[1:])
        if header[0] != 0x2F or bits >> 29:
            raise Damaged("the WebP's lossless image header is broken")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if length < 10:
        raise Damaged("the WebP's lossy image is cut short")
    header = reader.read(10, "a WebP lossy image")
    tag = header[0] | header[1] << 8 | header[2] << 16
    key_frame, shown, first_partition = not tag & 1, tag >> 4 & 1, tag >> 5
    if not key_frame or not shown or header[3:6] != b"\x9d\x01\x2a":
        raise Damaged("the WebP's lossy image header is broken")
    if first_partition > length - 10:
        raise Damaged("the WebP's lossy image is shorter than its header says")
    width, height = (value & 0x3FFF for value in struct.unpack("<HH", header[6:]))
    if not width or not height:
        raise Damaged("the WebP's lossy image has no dimensions")
    return width, height


def _chunks(reader: Reader, end: int) -> Iterator[tuple[bytes, int]]:
    """(FourCC, length) of each chunk up to ``end``, the reader at its payload each time."""
    while reader.position < end:
        if end - reader.position < 8:
            raise Damaged("the WebP has a chunk header cut short")
        kind, length = struct.unpack("<4sI", reader.read(8, "a WebP chunk header"))
        start = reader.position
        if length > end - start:
            raise Damaged("the WebP has a chunk that runs past its container")
        yield kind, length
        reader.seek(min(start + length + (length & 1), end))  # chunks are padded to even


def _u24(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 3], "little")
