"""Helpers every service uses to find the record a use case is about."""

from __future__ import annotations

import uuid
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Base
from app.services.errors import NotFound

ModelT = TypeVar("ModelT", bound=Base)


async def locked(
    session: AsyncSession, model: type[ModelT], key: uuid.UUID, *, field: str = "id"
) -> ModelT:
    """The row, locked for the rest of the transaction (FOR UPDATE; a no-op on SQLite)."""
    row = await session.get(model, key, with_for_update=True)
    if row is None:
        raise NotFound(field, f"the {model.__tablename__.replace('_', ' ')}")
    return row
