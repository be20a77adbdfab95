"""Helpers every service uses to find the record a use case is about, and to write the plain
ones: a row whose fields are cleaned input, whose every change is one event on its topic."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Album, Base, Contact
from app.db.transactions import writing
from app.events import ChangeKind, Event, record
from app.services.errors import NotFound

ModelT = TypeVar("ModelT", bound=Base)
#: The records written as cleaned fields plus one event (users and roles have more to check).
PlainT = TypeVar("PlainT", Contact, Album)


async def locked(
    session: AsyncSession, model: type[ModelT], key: uuid.UUID, *, field: str = "id"
) -> ModelT:
    """The row, locked for the rest of the transaction (FOR UPDATE; a no-op on SQLite)."""
    row = await session.get(model, key, with_for_update=True)
    if row is None:
        raise NotFound(field, f"the {model.__tablename__.replace('_', ' ')}")
    return row


async def create_record(
    session: AsyncSession,
    model: type[PlainT],
    cleaned: Mapping[str, Any],
    topic: Callable[[uuid.UUID], str],
) -> PlainT:
    """Insert a row with these fields, its CREATED event in the same transaction."""
    async with writing(session):
        row = model(**cleaned)
        session.add(row)
        await session.flush()
        record(session, Event(topic(row.id), ChangeKind.CREATED, row.id.hex))
    return row


async def update_record(
    session: AsyncSession,
    model: type[PlainT],
    key: uuid.UUID,
    cleaned: Mapping[str, Any],
    topic: Callable[[uuid.UUID], str],
) -> PlainT:
    """Set these fields (and only these) on the locked row, its UPDATED event in the same
    transaction."""
    async with writing(session):
        row = await locked(session, model, key)
        for name, value in cleaned.items():
            setattr(row, name, value)
        record(session, Event(topic(row.id), ChangeKind.UPDATED, row.id.hex))
    return row
