"""Test files made on the fly: real images of every kind we accept, and ones we must refuse."""

from __future__ import annotations

import io
import random
import struct
import zlib
from typing import Any

from PIL import Image


def png(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg(width: int = 64, height: int = 48, orientation: int | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (width, height), (10, 120, 200))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def animated_gif(frames: int = 3) -> bytes:
    buffer = io.BytesIO()
    images = [Image.new("P", (32, 32), i * 40) for i in range(frames)]
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return buffer.getvalue()


def webp() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (0, 0, 0)).save(buffer, "WEBP")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims huge dimensions: a decompression bomb's opening."""
    data = bytearray(png(1, 1))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"


# -- large real images: random noise, so neither format can shrink them ------------------------


def noise(width: int, height: int, seed: int = 1) -> Image.Image:
    return Image.frombytes(
        "RGB", (width, height), random.Random(seed).randbytes(width * height * 3)
    )


def noise_png(width: int, height: int, seed: int = 1) -> bytes:
    """A real PNG about as large as its pixels (stored deflate blocks: quick to make)."""
    buffer = io.BytesIO()
    noise(width, height, seed).save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


def noise_jpeg(width: int, height: int, seed: int = 1, **options: Any) -> bytes:
    buffer = io.BytesIO()
    noise(width, height, seed).save(buffer, "JPEG", quality=95, **options)
    return buffer.getvalue()


# -- PNGs built chunk by chunk, to damage exactly one thing ------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk of a well-formed PNG."""
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        chunks.append((kind, data[position + 8 : position + 8 + length]))
        position += 12 + length
    return chunks


def png_from_chunks(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(png_chunk(kind, data) for kind, data in chunks)


def raw_png(width: int, height: int, scanlines: bytes, *, interlaced: bool = False) -> bytes:
    """An 8-bit RGB PNG around already filtered scanlines, compressed here with zlib."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, int(interlaced))
    return png_from_chunks([(b"IHDR", ihdr), (b"IDAT", zlib.compress(scanlines)), (b"IEND", b"")])


def rgb_scanlines(width: int, height: int, seed: int = 2) -> bytes:
    rows = random.Random(seed)
    return b"".join(b"\0" + rows.randbytes(width * 3) for _ in range(height))


def png_with_cut_stream(width: int = 40, height: int = 30, *, exif: bool = False) -> bytes:
    """Every chunk and CRC well-formed, IEND present - but the zlib stream stops short.

    With an eXIf chunk before the image data, Pillow's ``getexif()`` has no reason to decode
    the pixels, so nothing that only asks Pillow for the orientation notices the cut.
    """
    stream = zlib.compress(rgb_scanlines(width, height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    metadata = [(b"eXIf", Image.Exif().tobytes())] if exif else []
    return png_from_chunks(
        [(b"IHDR", ihdr), *metadata, (b"IDAT", stream[: len(stream) // 2]), (b"IEND", b"")]
    )


def png_with_short_rows(width: int = 40, height: int = 30) -> bytes:
    """A complete zlib stream that holds one row fewer than IHDR promises."""
    return raw_png(width, height, rgb_scanlines(width, height - 1))


def png_with_bad_crc() -> bytes:
    """One byte of the image data changed, its chunk's CRC left as it was."""
    data = bytearray(png(40, 30))
    idat = data.index(b"IDAT")
    data[idat + 6] ^= 0x01
    return bytes(data)


def adam7_png(width: int, height: int, seed: int = 3) -> tuple[bytes, bytes]:
    """(an interlaced 8-bit RGB PNG, its pixels): Pillow reads Adam7 but cannot write it."""
    pixels = random.Random(seed).randbytes(width * height * 3)
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2))
    scanlines = bytearray()
    for x0, y0, dx, dy in (*passes, (0, 1, 1, 2)):
        for y in range(y0, height, dy):
            if x0 >= width:
                break
            scanlines.append(0)
            for x in range(x0, width, dx):
                scanlines += pixels[(y * width + x) * 3 : (y * width + x) * 3 + 3]
    return raw_png(width, height, bytes(scanlines), interlaced=True), pixels


def png_with_exif(orientation: int, *, after_pixels: bool = False) -> bytes:
    """A 64x48 PNG whose eXIf chunk says how to turn it, before or after its IDAT."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    chunks = [c for c in png_chunks(png(64, 48)) if c[0] != b"IEND"]
    chunks.insert(len(chunks) if after_pixels else 1, (b"eXIf", exif.tobytes()))
    return png_from_chunks([*chunks, (b"IEND", b"")])


def apng(frames: int = 3) -> bytes:
    buffer = io.BytesIO()
    images = [Image.new("RGB", (30, 20), (i * 60, 0, 0)) for i in range(frames)]
    images[0].save(buffer, "PNG", save_all=True, append_images=images[1:], duration=50)
    return buffer.getvalue()


def apng_with_cut_frame() -> bytes:
    """An APNG whose last frame's zlib stream stops short, every chunk and CRC well-formed."""
    chunks = png_chunks(apng())
    last = max(i for i, (kind, _) in enumerate(chunks) if kind == b"fdAT")
    data = chunks[last][1]
    chunks[last] = (b"fdAT", data[: 4 + (len(data) - 4) // 2])
    return png_from_chunks(chunks)


def polyglot() -> bytes:
    """A valid PNG that is also an HTML page to anyone who sniffs past its end."""
    return png(16, 16) + HTML


# -- the other formats --------------------------------------------------------------------------


def progressive_jpeg(width: int = 300, height: int = 200) -> bytes:
    return noise_jpeg(width, height, progressive=True, restart_marker_rows=1)


def webp_kinds() -> dict[str, bytes]:
    """Lossy, lossless, with alpha (extended), animated, and rotated by EXIF."""
    made = {}
    exif = Image.Exif()
    exif[0x0112] = 6
    for name, image, options in (
        ("lossy", noise(50, 40), {}),
        ("lossless", noise(50, 40), {"lossless": True}),
        ("alpha", Image.new("RGBA", (50, 40), (1, 2, 3, 100)), {}),
        ("rotated", noise(50, 40), {"exif": exif.tobytes()}),
    ):
        buffer = io.BytesIO()
        image.save(buffer, "WEBP", **options)
        made[name] = buffer.getvalue()
    buffer = io.BytesIO()
    frames = [Image.new("RGB", (50, 40), (i * 80, 0, 0)) for i in range(3)]
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], duration=40)
    made["animated"] = buffer.getvalue()
    return made


def webp_kind(kind: str) -> bytes:
    return webp_kinds()[kind]


def jpeg_with_app1(payload: bytes, width: int = 64, height: int = 48) -> bytes:
    """A JPEG whose first APP1 segment is ``payload`` (its own EXIF segment comes after)."""
    content = jpeg(width, height)
    return content[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + content[2:]


# -- headers that claim a decompression bomb's dimensions, and hold nothing after ---------------


def jpeg_claiming(width: int, height: int) -> bytes:
    components = b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    frame = struct.pack(">BHHB", 8, height, width, 3) + components
    return b"\xff\xd8\xff\xc0" + struct.pack(">H", len(frame) + 2) + frame


def gif_claiming(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)


def webp_claiming(width: int, height: int) -> bytes:
    vp8x = (
        b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    )
    chunk = b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk
