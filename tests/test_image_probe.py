"""Images are judged by their structure: damaged ones refused, real ones described as shown.

The probe never decodes pixels, so these tests hold it to what a decoder would notice: every
truncation and every corrupted PNG byte is refused, and on every valid image it agrees with
Pillow (which does decode) about type, size and frames.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
import pytest
from PIL import Image

from app.config import Settings
from app.storage.probe import NotAcceptable, Probe, probe_image
from tests import images
from tests.conftest import GraphQLClient
from tests.test_uploads import ADD_PHOTOS, blobs, new_album, new_contact, set_avatar, temp_files
from tests.uploads import upload

MAX_PIXELS = 50_000_000


def judge(tmp_path: Path, content: bytes, max_pixels: int = MAX_PIXELS) -> Probe | str:
    """The probe's verdict: what it found, or the message it refused the file with."""
    path = tmp_path / "upload"
    path.write_bytes(content)
    try:
        return probe_image(path, max_pixels=max_pixels)
    except NotAcceptable as refused:
        return str(refused)


def saved(image: Image.Image, kind: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def gif_frames(count: int) -> bytes:
    frames = [Image.new("RGB", (32, 24), (i * 80, 10, 10)) for i in range(count)]
    return saved(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


VALID: dict[str, Callable[[], bytes]] = {
    "png rgb": lambda: images.png(64, 48),
    "png 1-bit palette": lambda: saved(Image.new("P", (33, 17)), "PNG"),
    "png 1-bit": lambda: saved(Image.new("1", (33, 17)), "PNG"),
    "png grey+alpha": lambda: saved(Image.new("LA", (33, 17)), "PNG"),
    "png rgba": lambda: saved(images.noise(33, 17).convert("RGBA"), "PNG"),
    "png 16-bit grey": lambda: saved(Image.new("I;16", (33, 17)), "PNG"),
    "png adam7": lambda: images.adam7_png(37, 23)[0],
    "png adam7 tiny": lambda: images.adam7_png(3, 2)[0],
    "png many idat": lambda: images.noise_png(300, 200),
    "apng": images.apng,
    "jpeg": lambda: images.jpeg(64, 48),
    "jpeg progressive with restarts": images.progressive_jpeg,
    "jpeg grey": lambda: saved(Image.new("L", (33, 17)), "JPEG"),
    "jpeg cmyk": lambda: saved(Image.new("CMYK", (33, 17)), "JPEG"),
    "gif": lambda: gif_frames(1),
    "gif animated": lambda: gif_frames(3),
    **{
        f"webp {kind}": partial(images.webp_kind, kind)
        for kind in ("lossy", "lossless", "alpha", "animated")
    },
}


@pytest.mark.parametrize("name", VALID)
def test_the_probe_agrees_with_pillow_on_valid_images(tmp_path: Path, name: str) -> None:
    content = VALID[name]()
    with Image.open(io.BytesIO(content)) as image:
        image.load()  # Pillow decodes: a file it cannot decode is no valid sample
        expected = Probe(
            Image.MIME[image.format or ""],
            image.width,
            image.height,
            getattr(image, "n_frames", 1),
        )
    assert judge(tmp_path, content) == expected


@pytest.mark.parametrize("name", VALID)
def test_every_truncation_of_a_valid_image_is_refused(tmp_path: Path, name: str) -> None:
    content = VALID[name]()
    end = len(content)
    step = max(1, end // 400)  # every byte of small files, 400 places in larger ones
    cuts = (*range(1, end, step), end - 1)
    accepted = [cut for cut in cuts if not isinstance(judge(tmp_path, content[:cut]), str)]
    assert accepted == []


def test_every_corrupted_byte_of_a_png_is_refused(tmp_path: Path) -> None:
    content = images.png(8, 6)
    accepted = []
    for position in range(len(content)):
        damaged = bytearray(content)
        damaged[position] ^= 0x04
        if not isinstance(judge(tmp_path, bytes(damaged)), str):
            accepted.append(position)
    assert accepted == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (images.png_with_cut_stream(), "image stream is cut short"),
        (images.png_with_cut_stream(exif=True), "image stream is cut short"),
        (images.apng_with_cut_frame(), "image stream is cut short"),
        (images.png_with_short_rows(), "less image data than its dimensions"),
        (images.png_with_bad_crc(), "fails its CRC"),
        (images.jpeg()[:-2], "before its end marker"),
        (images.animated_gif()[:-1], "the file ends inside the GIF"),
        (images.webp()[:-6], "shorter than its header says"),
    ],
)
def test_damage_is_named(tmp_path: Path, content: bytes, message: str) -> None:
    verdict = judge(tmp_path, content)
    assert isinstance(verdict, str)
    assert verdict.startswith("the image is damaged or truncated: ")
    assert message in verdict


def test_a_zlib_bomb_stops_at_the_size_its_header_allows(tmp_path: Path) -> None:
    """1000x1000 grey promises 1,001,000 bytes; 20 MB of zeros inflate from 20 KB."""
    ihdr = struct.pack(">IIBBBBB", 1000, 1000, 8, 0, 0, 0, 0)
    bomb = zlib.compress(bytes(20_000_000), 9)
    content = images.png_from_chunks([(b"IHDR", ihdr), (b"IDAT", bomb), (b"IEND", b"")])
    assert judge(tmp_path, content) == (
        "the image is damaged or truncated: the PNG holds more image data than its dimensions"
    )


@pytest.mark.parametrize(
    "content",
    [
        images.png_claiming(100_000, 100_000),
        images.jpeg_claiming(60_000, 60_000),
        images.gif_claiming(60_000, 60_000),
        images.webp_claiming(16_000, 16_000),
    ],
    ids=["png", "jpeg", "gif", "webp"],
)
def test_too_many_pixels_are_refused_from_the_header(tmp_path: Path, content: bytes) -> None:
    """The headers are followed by nothing valid: the limit comes before any other check."""
    verdict = judge(tmp_path, content)
    assert isinstance(verdict, str)
    assert verdict.endswith("at most 50000000 pixels are accepted"), verdict


@pytest.mark.parametrize(
    ("content", "width", "height"),
    [
        (images.png_with_exif(6), 48, 64),
        (images.png_with_exif(8, after_pixels=True), 48, 64),
        (images.png_with_exif(3), 64, 48),
        (images.jpeg(64, 48, orientation=5), 48, 64),
        (images.webp_kinds()["rotated"], 40, 50),
        (images.jpeg_with_app1(b"Exif\0\0not a tiff header"), 64, 48),
    ],
)
def test_sizes_are_reported_as_displayed(
    tmp_path: Path, content: bytes, width: int, height: int
) -> None:
    verdict = judge(tmp_path, content)
    assert isinstance(verdict, Probe), verdict
    assert (verdict.width, verdict.height) == (width, height)


def test_an_oversized_exif_block_is_refused(tmp_path: Path) -> None:
    chunks = images.png_chunks(images.png(4, 4))
    chunks.insert(1, (b"eXIf", b"MM\0*" + b"\0" * (2**20)))
    verdict = judge(tmp_path, images.png_from_chunks(chunks))
    assert verdict == "the image's EXIF block is larger than 1048576 bytes"


def test_stray_bytes_between_jpeg_segments_are_skipped_as_decoders_do(tmp_path: Path) -> None:
    content = images.jpeg(30, 20)
    (length,) = struct.unpack(">H", content[4:6])
    first_segment_end = 4 + length
    with_junk = content[:first_segment_end] + b"\0\0junk" + content[first_segment_end:]
    with Image.open(io.BytesIO(with_junk)) as image:
        image.load()
    assert judge(tmp_path, with_junk) == Probe("image/jpeg", 30, 20)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (saved(Image.new("RGB", (4, 4)), "BMP"), "BMP images are not accepted"),
        (saved(Image.new("RGB", (4, 4)), "TIFF"), "TIFF images are not accepted"),
        (images.SVG, "the file is not an image we can read"),
        (
            images.png_from_chunks(
                [*images.png_chunks(images.png(4, 4))[:-1], (b"ZZZZ", b""), (b"IEND", b"")]
            ),
            "critical chunk",
        ),
    ],
)
def test_other_kinds_are_refused_by_name(tmp_path: Path, content: bytes, message: str) -> None:
    verdict = judge(tmp_path, content)
    assert isinstance(verdict, str)
    assert message in verdict


# -- through real multipart uploads, on both backends -------------------------------------------


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (images.png_with_cut_stream(), "truncated.png"),
        (images.png_with_cut_stream(exif=True), "truncated-with-exif.png"),
        (images.png_with_bad_crc(), "bad-crc.png"),
        (images.jpeg()[:-2], "no-eoi.jpg"),
        (images.progressive_jpeg()[:-5000], "half.jpg"),
        (images.animated_gif()[:-1], "no-trailer.gif"),
        (images.webp()[:-6], "cut.webp"),
    ],
)
async def test_damaged_uploads_are_invalid_files_and_leave_nothing(
    client: httpx.AsyncClient,
    gql: GraphQLClient,
    backend_settings: Settings,
    content: bytes,
    name: str,
) -> None:
    contact_id = await new_contact(gql)
    body = await set_avatar(client, str(gql.token), contact_id, content, name)
    (error,) = body["data"]["setContactAvatar"]["userErrors"]
    assert error["code"] == "INVALID_FILE"
    assert error["message"].startswith("the image is damaged or truncated")
    assert blobs(backend_settings, "contacts.avatar") == []
    assert temp_files(backend_settings) == []


async def test_every_accepted_kind_is_stored_with_its_displayed_size(
    client: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    album_id = await new_album(gql)
    webps = images.webp_kinds()
    files = [
        ("interlaced.png", images.adam7_png(37, 23)[0], "image/png", 37, 23),
        ("animated.png", images.apng(), "image/png", 30, 20),
        ("turned.png", images.png_with_exif(6, after_pixels=True), "image/png", 48, 64),
        ("progressive.jpg", images.progressive_jpeg(), "image/jpeg", 300, 200),
        ("animated.gif", gif_frames(3), "image/gif", 32, 24),
        ("lossless.webp", webps["lossless"], "image/webp", 50, 40),
        ("animated.webp", webps["animated"], "image/webp", 50, 40),
        ("turned.webp", webps["rotated"], "image/webp", 40, 50),
    ]
    response = await upload(
        client,
        ADD_PHOTOS,
        {"albumId": album_id, "files": [None] * len(files)},
        {str(i): (name, content, "image/png") for i, (name, content, *_) in enumerate(files)},
        {str(i): [f"variables.files.{i}"] for i in range(len(files))},
        token=gql.token,
    )
    payload = response.json()["data"]["addPhotos"]
    assert payload["userErrors"] == []
    assert [
        (p["file"]["filename"], p["file"]["contentType"], p["file"]["width"], p["file"]["height"])
        for p in payload["photos"]
    ] == [(name, kind, width, height) for name, _, kind, width, height in files]
