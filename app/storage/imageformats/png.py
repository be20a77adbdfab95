"""PNG (and APNG): every chunk's length, type and CRC; the image data inflated but not kept.

Inflating is the one way to know a PNG's pixels are all there: its chunks can be whole while
the zlib stream inside them stops short. The inflated bytes are only counted - they must be
exactly what IHDR implies (scanlines with their filter bytes, per Adam7 pass when interlaced),
the zlib stream must end (its Adler-32 checked) with nothing after it, and inflating stops as
soon as there is more than that, so a zlib bomb costs no more than a real image. APNG frames
(fcTL + fdAT) are checked the same way against their own dimensions.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from app.storage.imageformats.common import (
    EXIF_MAX,
    PIECE,
    Damaged,
    ImageFacts,
    Reader,
    Unsupported,
    check_pixels,
)

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_LENGTH = 2**31 - 1
#: Channels per colour type, and the bit depths each allows.
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
#: Adam7 passes: first column, first row, column step, row step.
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2))
_ADAM7_LAST = (0, 1, 1, 2)
#: Chunks read whole (the most bytes each may have); every other chunk is streamed.
_HELD = {b"PLTE": 768, b"acTL": 8, b"fcTL": 26, b"eXIf": EXIF_MAX}


@dataclass(frozen=True, slots=True)
class _Header:
    width: int
    height: int
    bits_per_pixel: int
    interlaced: bool
    palette: bool

    @classmethod
    def parse(cls, data: bytes) -> _Header:
        width, height, depth, colour, compression, filtering, interlace = struct.unpack(
            ">IIBBBBB", data
        )
        if not (0 < width <= _MAX_LENGTH and 0 < height <= _MAX_LENGTH):
            raise Damaged("the PNG header gives no valid dimensions")
        if depth not in _DEPTHS.get(colour, ()) or compression or filtering or interlace > 1:
            raise Damaged("the PNG header gives an impossible pixel format")
        return cls(width, height, depth * _CHANNELS[colour], interlace == 1, colour == 3)

    def data_size(self, width: int, height: int) -> int:
        """Bytes the zlib stream must inflate to for an image (or frame) of this size."""
        if not self.interlaced:
            return self._scanlines(width, height)
        return sum(
            self._scanlines(-(-(width - x0) // dx), -(-(height - y0) // dy))
            for x0, y0, dx, dy in (*_ADAM7, _ADAM7_LAST)
            if width > x0 and height > y0
        )

    def _scanlines(self, width: int, height: int) -> int:
        return height * (1 + (width * self.bits_per_pixel + 7) // 8)


class _Stream:
    """One zlib stream (the IDAT run, or one APNG frame's fdAT run), inflated and counted."""

    def __init__(self, expected: int) -> None:
        self._inflater = zlib.decompressobj()
        self._expected, self._produced = expected, 0

    def feed(self, data: bytes) -> None:
        if self._inflater.eof:
            if data:
                raise Damaged("the PNG has data after the end of its image stream")
            return
        try:
            while True:
                room = min(PIECE, self._expected - self._produced + 1)
                inflated = len(self._inflater.decompress(data, room))
                self._produced += inflated
                if self._produced > self._expected:
                    raise Damaged("the PNG holds more image data than its dimensions")
                if self._inflater.eof:
                    if self._inflater.unused_data:
                        raise Damaged("the PNG has data after the end of its image stream")
                    return
                data = self._inflater.unconsumed_tail
                if not data and inflated < room:  # all taken in, and nothing left inside zlib
                    return
        except zlib.error as error:
            raise Damaged(f"the PNG's image stream is corrupt ({error})") from None

    def finish(self) -> None:
        if not self._inflater.eof:
            raise Damaged("the PNG's image stream is cut short")
        if self._produced != self._expected:
            raise Damaged("the PNG holds less image data than its dimensions")


class _Walk:
    """The chunks after IHDR, in order; their rules are the ones decoders enforce."""

    def __init__(self, reader: Reader, header: _Header) -> None:
        self.reader, self.header = reader, header
        self.palette = False
        self.image: _Stream | None = None
        self.image_done = False
        self.frame: _Stream | None = None
        self.frames_declared: int | None = None
        self.frame_controls = 0
        self.exif: bytes | None = None

    def run(self) -> ImageFacts:
        while True:
            length, kind = _chunk_header(self.reader)
            self._close_runs(kind)
            if kind == b"IEND":
                self._end(length)
                break
            if kind == b"IDAT":
                self._image_data(length)
            elif kind == b"fdAT" and self.frames_declared is not None:
                self._frame_data(length)
            elif kind in _HELD:
                self._held(kind, _read_held(self.reader, kind, length))
            elif not kind[0] & 0x20:  # an upper-case first letter: critical
                raise Unsupported(f"the PNG has a critical chunk {kind.decode()} no decoder knows")
            else:
                _stream_chunk(self.reader, kind, length)
        frames = self.frames_declared or 1
        header = self.header
        return ImageFacts("image/png", header.width, header.height, frames, self.exif)

    def _close_runs(self, kind: bytes) -> None:
        """A run of IDAT (or of one frame's fdAT) ends at the first other chunk."""
        if self.image is not None and not self.image_done and kind != b"IDAT":
            self.image.finish()
            self.image_done = True
        if self.frame is not None and kind != b"fdAT":
            self.frame.finish()
            self.frame = None

    def _image_data(self, length: int) -> None:
        if self.image_done:
            raise Damaged("the PNG's image data is split by other chunks")
        if self.header.palette and not self.palette:
            raise Damaged("the PNG has no palette before its image data")
        if self.image is None:
            self.image = _Stream(self.header.data_size(self.header.width, self.header.height))
        _stream_chunk(self.reader, b"IDAT", length, self.image)

    def _frame_data(self, length: int) -> None:
        if self.frame is None:
            raise Damaged("the APNG has frame data without a frame control chunk")
        if length < 4:
            raise Damaged("the APNG has a frame data chunk without its sequence number")
        _stream_chunk(self.reader, b"fdAT", length, self.frame, skip=4)

    def _held(self, kind: bytes, data: bytes) -> None:
        before_image = self.image is None
        if kind == b"PLTE":
            if not before_image:
                raise Damaged("the PNG has a palette after its image data")
            if not data or len(data) % 3:
                raise Damaged("the PNG's palette has a broken length")
            self.palette = True
        elif kind == b"acTL" and before_image and self.frames_declared is None:
            frames = struct.unpack(">I", data[:4])[0] if len(data) == 8 else 0
            if not frames:
                raise Damaged("the APNG's animation control chunk is broken")
            self.frames_declared = frames
        elif kind == b"fcTL" and self.frames_declared is not None:
            self._frame_control(data, before_image)
        elif kind == b"eXIf" and self.exif is None:
            self.exif = data

    def _frame_control(self, data: bytes, before_image: bool) -> None:
        if len(data) != 26:
            raise Damaged("the APNG's frame control chunk has a broken length")
        _, width, height, x, y = struct.unpack(">IIIII", data[:20])
        header = self.header
        if not (width and height and x + width <= header.width and y + height <= header.height):
            raise Damaged("the APNG has a frame outside the image")
        if before_image and (width, height, x, y) != (header.width, header.height, 0, 0):
            raise Damaged("the APNG's first frame is not the whole image")
        self.frame_controls += 1
        if not before_image:
            self.frame = _Stream(header.data_size(width, height))

    def _end(self, length: int) -> None:
        if length:
            raise Damaged("the PNG's end chunk is not empty")
        _check_crc(self.reader, zlib.crc32(b"IEND"))
        if not self.image_done:
            raise Damaged("the PNG has no image data")
        if self.frames_declared is not None and self.frames_declared != self.frame_controls:
            raise Damaged(
                f"the APNG declares {self.frames_declared} frames and holds {self.frame_controls}"
            )


def walk(reader: Reader, max_pixels: int) -> ImageFacts:
    if reader.read(len(SIGNATURE), "the PNG signature") != SIGNATURE:
        raise Damaged("the PNG signature is broken")
    length, kind = _chunk_header(reader)
    if kind != b"IHDR" or length != 13:
        raise Damaged("the PNG does not start with its header chunk")
    data = reader.read(13, "the PNG header")
    _check_crc(reader, zlib.crc32(b"IHDR" + data))
    header = _Header.parse(data)
    check_pixels(header.width, header.height, max_pixels)
    return _Walk(reader, header).run()


def _chunk_header(reader: Reader) -> tuple[int, bytes]:
    length, kind = struct.unpack(">I4s", reader.read(8, "a PNG chunk header"))
    if length > _MAX_LENGTH or not kind.isalpha() or not kind.isascii():
        raise Damaged("the PNG has a broken chunk header")
    return length, kind


def _read_held(reader: Reader, kind: bytes, length: int) -> bytes:
    if length > _HELD[kind]:
        if kind == b"eXIf":
            raise Unsupported(f"the image's EXIF block is larger than {EXIF_MAX} bytes")
        raise Damaged(f"the PNG's {kind.decode()} chunk is too long")
    data = reader.read(length, "a PNG chunk")
    _check_crc(reader, zlib.crc32(kind + data))
    return data


def _stream_chunk(
    reader: Reader, kind: bytes, length: int, stream: _Stream | None = None, skip: int = 0
) -> None:
    """Check a chunk's CRC piece by piece, handing its data (past ``skip`` bytes) on."""
    crc = zlib.crc32(kind)
    for piece in reader.pieces(length, "a PNG chunk"):
        crc = zlib.crc32(piece, crc)
        if stream is not None:
            stream.feed(piece[skip:])
        skip = max(0, skip - len(piece))
    _check_crc(reader, crc)


def _check_crc(reader: Reader, crc: int) -> None:
    if struct.unpack(">I", reader.read(4, "a PNG chunk's CRC"))[0] != crc:
        raise Damaged("a PNG chunk fails its CRC")
