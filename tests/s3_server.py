"""A local S3-compatible server the tests start themselves: moto in server mode, on a free port.

Never the internet: the endpoint is 127.0.0.1, the credentials are made up (moto checks none).
Each test that wants a bucket makes a fresh one, so tests never see each other's objects.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from pydantic import SecretStr

from app.config import S3AddressingStyle, StorageBackend
from app.storage.s3 import MIN_PART_BYTES, S3BlobStore
from tests.processes import free_port, kill_group, start, wait_answering

ACCESS_KEY, SECRET_KEY, REGION = "testing-key", "testing-secret", "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def client(self) -> Any:
        """A plain (synchronous) botocore client, for tests that look behind the store's back."""
        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self) -> str:
        name = f"blobs-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings(self, bucket: str, **overrides: object) -> dict[str, object]:
        """The settings that point contentgraph at this server and bucket."""
        return {
            "storage_backend": StorageBackend.S3,
            "s3_bucket": bucket,
            "s3_endpoint_url": self.endpoint,
            "s3_region": REGION,
            "s3_access_key_id": ACCESS_KEY,
            "s3_secret_access_key": SecretStr(SECRET_KEY),
            "s3_addressing_style": S3AddressingStyle.PATH,
            "s3_part_bytes": MIN_PART_BYTES,
            **overrides,
        }

    def env(self, bucket: str, **overrides: object) -> dict[str, str]:
        """The same, as environment variables for the CLI."""
        return {
            key.upper(): str(value) for key, value in self.settings(bucket, **overrides).items()
        }

    def store(self, bucket: str, **options: Any) -> S3BlobStore:
        return S3BlobStore(
            bucket=bucket,
            endpoint_url=self.endpoint,
            region=REGION,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            addressing_style="path",
            part_bytes=MIN_PART_BYTES,
            **options,
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def unfinished_uploads(self, bucket: str) -> list[str]:
        listed = self.client().list_multipart_uploads(Bucket=bucket)
        return [upload["Key"] for upload in listed.get("Uploads", [])]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    port = free_port()
    arguments = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = start(arguments, dict(os.environ))
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_answering(process, f"{endpoint}/moto-api/", healthy=False)
        yield S3Server(endpoint)
    finally:
        kill_group(process)
