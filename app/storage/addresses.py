"""Where a blob lives inside a store, the same for every backend.

    <entity>/<h[0:2]>/<h[2:4]>/<h>      a blob, named by its SHA-256 (dedup per entity)
    .tmp/<uuid hex>                     uploads in progress

A path under the files root on disk, an object key (under S3_PREFIX) in a bucket. Both parts
of an address are validated: a crafted value can never name anything else.
"""

from __future__ import annotations

import re

TEMP_DIR = ".tmp"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ENTITY = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_TEMP_NAME = re.compile(r"^[0-9a-f]{32}$")


def valid_entity(name: str) -> bool:
    return _ENTITY.match(name) is not None


def valid_sha256(value: str) -> bool:
    return _SHA256.match(value) is not None


def blob_parts(entity: str, sha256: str) -> tuple[str, str, str, str]:
    """The four parts of a blob's address; ValueError for anything that is not one."""
    if not valid_entity(entity) or not valid_sha256(sha256):
        raise ValueError("not a blob address")
    return entity, sha256[:2], sha256[2:4], sha256


def blob_key(entity: str, sha256: str) -> str:
    return "/".join(blob_parts(entity, sha256))


def parse_blob_key(key: str) -> tuple[str, str] | None:
    """(entity, sha256) of ``<entity>/<h0h1>/<h2h3>/<h>``; None for anything else."""
    parts = key.split("/")
    if len(parts) != 4:
        return None
    entity, first, second, sha256 = parts
    if not valid_entity(entity) or not valid_sha256(sha256):
        return None
    if first != sha256[:2] or second != sha256[2:4]:
        return None
    return entity, sha256


def temp_key(name: str) -> str:
    if _TEMP_NAME.match(name) is None:
        raise ValueError("not a temporary blob's name")
    return f"{TEMP_DIR}/{name}"


def valid_temp_name(name: str) -> bool:
    return _TEMP_NAME.match(name) is not None
