"""Upload throughput into each blob store, against the plain write of the same bytes.

One run: a real server (embedded database) takes the same upload (a PNG followed by padding,
through the GraphQL multipart endpoint) with STORAGE_BACKEND=local and with STORAGE_BACKEND=s3
against a local S3-compatible server (moto, started here), and each is set against its plain
baseline in the same rounds: an fsynced file write for the disk, a multipart upload of the same
bytes with aiobotocore (same part size) for the bucket. Writes bench/results/storage.md.

moto keeps objects in memory in one Python process: the absolute figures are moto's, the
ratio to the plain aiobotocore upload is what the server adds.

    python3 dev.py bench storage [--size-mib 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import botocore.session
import httpx
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.config import Config

from bench.common import SECRET, create_admin, free_port, login, publish, server
from bench.upload import CHUNK, disk_write, payload, timed_upload

ACCESS_KEY, SECRET_ACCESS_KEY = "bench-key", "bench-secret"
REGION, BUCKET = "us-east-1", "bench-blobs"
PART_BYTES = 8 * CHUNK


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            time.sleep(0.1)
        client: Any = botocore.session.get_session().create_client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            config=Config(s3={"addressing_style": "path"}),
        )
        client.create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


async def plain_upload(endpoint: str, parts: Iterable[bytes], salt: int) -> float:
    """Seconds for aiobotocore's multipart upload of the same bytes, in parts as ours."""
    session = get_session()
    config = AioConfig(
        s3={"addressing_style": "path"}, request_checksum_calculation="when_required"
    )
    async with session.create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=config,
    ) as client:
        started = time.perf_counter()
        key = f"plain/{salt}"
        upload = await client.create_multipart_upload(Bucket=BUCKET, Key=key)
        done: list[Any] = []
        buffer, number = bytearray(), 1
        for piece in parts:
            buffer += piece
            while len(buffer) >= PART_BYTES:
                body, buffer = bytes(buffer[:PART_BYTES]), buffer[PART_BYTES:]
                sent = await client.upload_part(
                    Bucket=BUCKET,
                    Key=key,
                    UploadId=upload["UploadId"],
                    PartNumber=number,
                    Body=body,
                )
                done.append({"ETag": sent["ETag"], "PartNumber": number})
                number += 1
        if buffer:
            sent = await client.upload_part(
                Bucket=BUCKET,
                Key=key,
                UploadId=upload["UploadId"],
                PartNumber=number,
                Body=bytes(buffer),
            )
            done.append({"ETag": sent["ETag"], "PartNumber": number})
        await client.complete_multipart_upload(
            Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": done}
        )
        return time.perf_counter() - started


@contextlib.contextmanager
def contentgraph(root: Path, size: int, **storage: str) -> Iterator[tuple[httpx.Client, str]]:
    """A server on the embedded database with the given storage settings; (client, contact)."""
    env = {
        **os.environ,
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "VAR_DIR": str(root / "var"),
        "FILES_ROOT": str(root / "files"),
        "SECRET_KEY": SECRET,
        "LOG_LEVEL": "WARNING",
        "STORAGE_LIMITS": json.dumps({"contacts.avatar": {"max_bytes": 2 * size, "max_files": 1}}),
        **storage,
    }
    subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"], env=env, check=True, capture_output=True
    )
    create_admin(env, "loadtest")
    with server(env) as (base, _pid), httpx.Client(base_url=base, timeout=600) as http:
        http.headers.update(
            {"Authorization": f"Bearer {login(base, 'loadtest')}", "Apollo-Require-Preflight": "1"}
        )
        created = http.post(
            "/graphql",
            json={"query": 'mutation { createContact(input: {name: "Bench"}) { contact { id } } }'},
        ).json()
        yield http, created["data"]["createContact"]["contact"]["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * CHUNK
    seconds: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as work, moto_server() as endpoint:
        s3 = {
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": BUCKET,
            "S3_ENDPOINT_URL": endpoint,
            "S3_REGION": REGION,
            "S3_ACCESS_KEY_ID": ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "S3_ADDRESSING_STYLE": "path",
            "S3_PART_BYTES": str(PART_BYTES),
        }
        for name, storage in (("local", {}), ("s3", s3)):
            root = Path(work) / name
            with contentgraph(root, size, **storage) as (http, contact):
                for round_ in range(args.rounds):  # alternate with the baseline
                    salt = 10 * round_ + (1 if name == "s3" else 0)
                    seconds.setdefault(name, []).append(
                        timed_upload(http, contact, payload(size, salt), size)
                    )
                    if name == "local":
                        baseline = disk_write(root, payload(size, 100 + salt), 100 + salt)
                    else:
                        baseline = asyncio.run(
                            plain_upload(endpoint, payload(size, 100 + salt), salt)
                        )
                    seconds.setdefault(f"{name} plain", []).append(baseline)
    mib = size / CHUNK

    def rate(key: str) -> float:
        return float(mib / statistics.median(seconds[key]))

    lines = [
        "| store | contentgraph upload MiB/s | plain write of the same bytes MiB/s | ratio |",
        "|---|---|---|---|",
        f"| local disk | {rate('local'):.0f} | {rate('local plain'):.0f} (fsynced file) | "
        f"{rate('local') / rate('local plain'):.2f} |",
        f"| S3 (moto, local) | {rate('s3'):.0f} | {rate('s3 plain'):.0f} (aiobotocore multipart) | "
        f"{rate('s3') / rate('s3 plain'):.2f} |",
        "",
        f"{args.size_mib} MiB per upload, median of {args.rounds} alternating rounds; parts of "
        f"{PART_BYTES // CHUNK} MiB on both S3 sides.",
    ]
    publish("storage", lines)


if __name__ == "__main__":
    main()
