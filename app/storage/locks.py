"""Serialise everything that places, references or removes one blob.

Without it, an upload that found its content already on disk (dedup) could commit a row just
after a delete had checked "no row uses this blob" and removed it: a dangling row. Placing and
collecting both take the blob's lock inside their transaction. PostgreSQL: a transaction-scoped
advisory lock. SQLite: write transactions already run one at a time (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


def _lock_key(entity: str, sha256: str) -> int:
    digest = hashlib.sha256(f"{entity}:{sha256}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def lock_blob(session: AsyncSession, entity: str, sha256: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(entity, sha256)}
        )
