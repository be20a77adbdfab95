"""GIF: the block structure from the screen descriptor to the trailer, frames counted.

Image data and extensions are chains of length-prefixed sub-blocks ending with an empty one;
walking them to the 0x3B trailer finds a cut file without decompressing the LZW data. The size
is the logical screen's, grown to hold the first frame, as Pillow and browsers show it.
"""

from __future__ import annotations

import struct

from app.storage.imageformats.common import Damaged, ImageFacts, Reader, check_pixels, growing

SIGNATURES = (b"GIF87a", b"GIF89a")
_EXTENSION, _IMAGE, _TRAILER = 0x21, 0x2C, 0x3B


def walk(reader: Reader, max_pixels: int) -> ImageFacts:
    screen = reader.read(13, "the GIF header")
    if screen[:6] not in SIGNATURES:
        raise Damaged("the GIF signature is broken")
    width, height, flags = struct.unpack("<HHB", screen[6:11])
    check_pixels(width, height, max_pixels)
    _skip_colour_table(reader, flags)
    frames = 0
    while (introducer := reader.read(1, "the GIF's blocks")[0]) != _TRAILER:
        if introducer == _EXTENSION:
            reader.read(1, "a GIF extension")  # its label
        elif introducer == _IMAGE:
            extent = _image_descriptor(reader, max_pixels)
            if not frames:  # the first frame may be larger than the screen it claims
                width, height = max(width, extent[0]), max(height, extent[1])
                check_pixels(width, height, max_pixels)
            frames += 1
        else:
            raise Damaged("the GIF has a block of no known kind")
        _skip_sub_blocks(reader)
    if not frames or not width or not height:
        raise Damaged("the GIF holds no image")
    return ImageFacts("image/gif", width, height, frames)


def _image_descriptor(reader: Reader, max_pixels: int) -> tuple[int, int]:
    """Read up to the image data's sub-blocks; return the frame's right and bottom edges."""
    left, top, width, height, flags = struct.unpack(
        "<HHHHB", reader.read(9, "a GIF image descriptor")
    )
    check_pixels(width, height, max_pixels)
    _skip_colour_table(reader, flags)
    if not 1 <= reader.read(1, "a GIF image")[0] <= 11:  # 12-bit codes at most
        raise Damaged("the GIF has a frame with an impossible LZW code size")
    return left + width, top + height


def _skip_colour_table(reader: Reader, flags: int) -> None:
    if flags & 0x80:
        reader.skip(3 << ((flags & 7) + 1), "a GIF colour table")


def _skip_sub_blocks(reader: Reader) -> None:
    """Past a chain of sub-blocks and its empty terminator, walked in memory a block at a time
    (a chain of one-byte sub-blocks would otherwise cost two reads a byte)."""
    for size in growing():
        start = reader.position
        block = reader.block(size)
        offset = 0
        while offset < len(block):
            length = block[offset]
            if not length:
                reader.seek(start + offset + 1)
                return
            offset += length + 1
        if not block or start + offset >= reader.size:
            raise Damaged("the file ends inside the GIF's data")
        reader.seek(start + offset)
