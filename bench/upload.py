"""Upload throughput and memory.

* MB/s for a 100 MiB upload through a real server (multipart over HTTP, streamed into a
  temporary blob, hashed, fsynced, probed, placed, recorded), against a plain fsynced disk
  write of the same bytes to the same filesystem in the same run: the ratio is what our
  pipeline costs over the disk itself. That file is a tiny PNG followed by filler, so its
  probe has almost nothing to read.
* The same for real images, whose whole structure the probe walks: a PNG of random noise
  (about 100 MiB at the default 5912 x 5912, stored deflate) and a JPEG of the same pixels,
  each against a plain disk write of its own bytes, with the server's peak RSS growth while
  it takes the first of each.
* Peak RSS growth of the server process while it receives a 1 GiB upload (target < 64 MiB).

    .venv/bin/python -m bench.upload [--size-mib 100] [--big-mib 1024] [--rounds 3]
        [--image-side 5912]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path

import httpx
from PIL import Image

from bench.common import publish

CHUNK = 1024 * 1024
BOUNDARY = "contentgraph-bench"
PASSWORD = "benchmark password 123"
SET_AVATAR = (
    "mutation($c: ID!, $f: Upload!) { setContactAvatar(input: {contactId: $c, file: $f}) "
    "{ contact { avatar { size } } userErrors { message } } }"
)


def image_prefix() -> bytes:
    """A real PNG; the payload follows its IEND chunk, so the file stays a valid image."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, "PNG")
    return buffer.getvalue()


def payload(size: int, salt: int) -> Iterator[bytes]:
    prefix = image_prefix()
    yield prefix
    block = bytes([salt % 256]) * CHUNK
    remaining = size - len(prefix)
    while remaining > 0:
        piece = block[: min(CHUNK, remaining)]
        remaining -= len(piece)
        yield piece


def real_images(side: int) -> dict[str, bytes]:
    """A PNG and a JPEG of the same random noise: large, real, and quick to make."""
    noise = Image.frombytes("RGB", (side, side), random.Random(side).randbytes(side * side * 3))
    made = {}
    for name, kind, options in (
        ("PNG", "PNG", {"compress_level": 0}),
        ("JPEG", "JPEG", {"quality": 95}),
    ):
        buffer = io.BytesIO()
        noise.save(buffer, kind, **options)
        made[name] = buffer.getvalue()
    return made


def image_payload(content: bytes, salt: int) -> Iterator[bytes]:
    """The image, then one byte after its end (ignored by readers): a new blob each round."""
    for start in range(0, len(content), CHUNK):
        yield content[start : start + CHUNK]
    yield bytes([salt % 256])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)


def timed_upload(http: httpx.Client, contact: str, parts: Iterable[bytes], nbytes: int) -> float:
    """Seconds to upload ``parts`` as ``contact``'s avatar through ``http`` (whose headers sign
    in), checked to have stored all ``nbytes``."""
    body, length = multipart_body(contact, parts, nbytes)
    started = time.perf_counter()
    response = http.post(
        "/graphql",
        content=body,
        headers={
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(length),
        },
    )
    elapsed = time.perf_counter() - started
    result = response.json()["data"]["setContactAvatar"]
    assert result["userErrors"] == [], result
    assert result["contact"]["avatar"]["size"] == nbytes
    return elapsed


def multipart_body(
    contact_id: str, parts: Iterable[bytes], size: int
) -> tuple[Iterator[bytes], int]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
        + json.dumps({"query": SET_AVATAR, "variables": {"c": contact_id, "f": None}})
        + f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="map"\r\n\r\n'
        + '{"0": ["variables.f"]}'
        + f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="0"; filename="big.png"\r\n'
        + "Content-Type: image/png\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        yield from parts
        yield tail

    return chunks(), len(head) + size + len(tail)


def disk_write(directory: Path, parts: Iterable[bytes], salt: int) -> float:
    """Seconds to write and fsync the same bytes, as plainly as Python can."""
    started = time.perf_counter()
    path = directory / f"plain-{salt}"
    with open(path, "wb") as handle:
        for chunk in parts:
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    elapsed = time.perf_counter() - started
    path.unlink()
    return elapsed


def peak_growth(pid: int, action: Callable[[], float]) -> tuple[float, float]:
    """(MiB the process's resident size grew at most while ``action`` ran, its result)."""
    idle = rss_kib(pid)
    sampler = RssSampler(pid)
    sampler.start()
    try:
        result = action()
    finally:
        sampler.running = False
        sampler.join()
    return (sampler.peak - idle) / 1024, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=100)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image-side", type=int, default=5912)
    args = parser.parse_args()
    size, big = args.size_mib * CHUNK, args.big_mib * CHUNK
    images = real_images(args.image_side)

    with tempfile.TemporaryDirectory(dir=Path.cwd()) as work:
        root = Path(work)
        env = {
            **os.environ,
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "VAR_DIR": str(root / "var"),
            "FILES_ROOT": str(root / "files"),
            "SECRET_KEY": "benchmark-secret-key-0123456789-abcdefghij",
            "LOG_LEVEL": "WARNING",
            "STORAGE_LIMITS": json.dumps(
                {"contacts.avatar": {"max_bytes": 2 * big, "max_files": 1}}
            ),
        }
        run = [sys.executable, "-m", "app.cli"]
        subprocess.run([*run, "migrate"], env=env, check=True, capture_output=True)
        subprocess.run(
            [*run, "createuser", "loadtest", "--admin", "--password-stdin"],
            env=env,
            input=PASSWORD,
            text=True,
            check=True,
            capture_output=True,
        )
        port = free_port()
        server = subprocess.Popen(
            [*run, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=600) as http:
                for _ in range(100):
                    try:
                        if http.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                token = http.post(
                    "/graphql",
                    json={
                        "query": 'mutation { login(input: {username: "loadtest", password: "'
                        + PASSWORD
                        + '"}) { token } }'
                    },
                ).json()["data"]["login"]["token"]
                http.headers.update(
                    {"Authorization": f"Bearer {token}", "Apollo-Require-Preflight": "1"}
                )
                contact = http.post(
                    "/graphql",
                    json={
                        "query": 'mutation { createContact(input: {name: "Bench"}) { contact { id } } }'
                    },
                ).json()["data"]["createContact"]["contact"]["id"]

                upload = partial(timed_upload, http, contact)

                ours, plain = [], []
                for round_ in range(args.rounds):  # alternate, so drift hits both alike
                    plain.append(disk_write(root, payload(size, 100 + round_), 100 + round_))
                    ours.append(upload(payload(size, round_), size))
                mib = size / CHUNK
                ours_rate, plain_rate = (
                    mib / statistics.median(ours),
                    mib / statistics.median(plain),
                )

                real: dict[str, tuple[float, float, float]] = {}
                for name, content in images.items():
                    nbytes = len(content) + 1
                    # The first image of its kind: later ones find buffers the allocator kept.
                    first = partial(upload, image_payload(content, 200 + len(real)), nbytes)
                    growth_mib, _ = peak_growth(server.pid, first)
                    image_ours, image_plain = [], []
                    for round_ in range(args.rounds):
                        salt = 10 * round_ + len(real)
                        image_plain.append(disk_write(root, image_payload(content, salt), salt))
                        image_ours.append(upload(image_payload(content, salt), nbytes))
                    image_mib = nbytes / CHUNK
                    real[name] = (
                        image_mib / statistics.median(image_ours),
                        image_mib / statistics.median(image_plain),
                        growth_mib,
                    )

                idle = rss_kib(server.pid)
                growth, big_time = peak_growth(server.pid, partial(upload, payload(big, 250), big))
        finally:
            server.terminate()
            server.wait(timeout=10)

    lines = [
        "| measure | value |",
        "|---|---|",
        f"| upload {args.size_mib} MiB through contentgraph (median of {args.rounds}) | {ours_rate:.0f} MiB/s |",
        f"| plain fsynced disk write of the same bytes (median of {args.rounds}) | {plain_rate:.0f} MiB/s |",
        f"| ratio contentgraph / disk | {ours_rate / plain_rate:.2f} |",
        *(
            line
            for name, (rate, disk, grown) in real.items()
            for line in (
                f"| real {name} {args.image_side}x{args.image_side} ({len(images[name]) / CHUNK:.0f} MiB): contentgraph / plain disk write (median of {args.rounds}) | {rate:.0f} / {disk:.0f} MiB/s, ratio {rate / disk:.2f} ({rate / plain_rate:.2f} against the {args.size_mib} MiB write) |",
                f"| server RSS peak growth while it takes its first real {name} | +{grown:.1f} MiB |",
            )
        ),
        f"| upload {args.big_mib} MiB: time | {big_time:.1f} s ({args.big_mib / big_time:.0f} MiB/s) |",
        f"| server RSS idle -> peak growth during the {args.big_mib} MiB upload | {idle / 1024:.0f} MiB -> +{growth:.1f} MiB (target < 64 MiB) |",
    ]
    publish("upload", lines)


if __name__ == "__main__":
    main()
