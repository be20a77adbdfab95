"""The blob store the settings choose (STORAGE_BACKEND)."""

from __future__ import annotations

from app.config import S3Serve, Settings, StorageBackend
from app.storage.blobs import BlobStore
from app.storage.local import LocalBlobStore


def build_blob_store(settings: Settings) -> BlobStore:
    if settings.storage_backend is StorageBackend.LOCAL:
        return LocalBlobStore(settings.files_root)
    from app.storage.s3 import S3BlobStore  # aiobotocore loads only where it is used

    assert settings.s3_bucket is not None  # (the settings refuse s3 without a bucket)
    secret = settings.s3_secret_access_key
    return S3BlobStore(
        bucket=settings.s3_bucket,
        prefix=settings.s3_prefix,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
        addressing_style=settings.s3_addressing_style.value,
        part_bytes=settings.s3_part_bytes,
        redirect=settings.s3_serve is S3Serve.REDIRECT,
    )
