"""Batch reads the DataLoaders are built on: one statement for many keys."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db.models import Base, Photo, Role, user_roles
from app.db.paging import Page, SortKey, Window, bounded, probe_limit, shape_page

ModelT = TypeVar("ModelT", bound=Base)


async def by_ids(
    session: AsyncSession, model: type[ModelT], ids: Sequence[uuid.UUID]
) -> list[ModelT | None]:
    """Rows for ``ids`` in the same order, None where a row does not exist.

    Plain rows with the columns as attributes, not ORM instances: loaders only read them,
    and hydrating identity-mapped instances costs more than the query itself."""
    table = model.__table__
    statement = select(table).where(table.c.id.in_(set(ids)))
    rows = (await session.execute(statement)).all()
    found: dict[Any, ModelT] = {row.id: row for row in rows}  # type: ignore[misc]
    return [found.get(key) for key in ids]


async def photo_pages(
    session: AsyncSession, album_ids: Sequence[uuid.UUID], sort: SortKey, window: Window
) -> list[Page[Photo]]:
    """The same window of photos for many albums in one statement (ROW_NUMBER per album)."""
    inner = select(
        Photo,
        func.row_number()
        .over(partition_by=Photo.album_id, order_by=sort.order_by(reverse=not window.forward))
        .label("position"),
    ).where(Photo.album_id.in_(set(album_ids)))
    after = sort.decode(window.after) if window.after is not None else None
    before = sort.decode(window.before) if window.before is not None else None
    inner = bounded(inner, sort, after=after, before=before)
    numbered = inner.subquery()
    photo = aliased(Photo, numbered)
    statement = (
        select(photo)
        .where(numbered.c.position <= probe_limit(window.limit))
        .order_by(numbered.c.album_id, numbered.c.position)
    )
    grouped: dict[uuid.UUID, list[Photo]] = defaultdict(list)
    for row in (await session.scalars(statement)).all():
        grouped[row.album_id].append(row)
    return [shape_page(grouped.get(album_id, []), sort, window) for album_id in album_ids]


async def photo_counts(session: AsyncSession, album_ids: Sequence[uuid.UUID]) -> list[int]:
    statement = (
        select(Photo.album_id, func.count())
        .where(Photo.album_id.in_(set(album_ids)))
        .group_by(Photo.album_id)
    )
    counts = {album_id: total for album_id, total in (await session.execute(statement)).all()}
    return [int(counts.get(album_id, 0)) for album_id in album_ids]


#: How a user's roles are listed (the compiled read path lists them the same way).
ROLE_LIST_ORDER = ("name",)


async def roles_of_users(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> list[list[Role]]:
    """Each user's roles, by name, for many users in one statement."""
    statement = (
        select(user_roles.c.user_id, Role)
        .join(Role, Role.id == user_roles.c.role_id)
        .where(user_roles.c.user_id.in_(set(user_ids)))
        .order_by(*(getattr(Role, column) for column in ROLE_LIST_ORDER))
    )
    grouped: dict[uuid.UUID, list[Role]] = defaultdict(list)
    for user_id, role in (await session.execute(statement)).all():
        grouped[user_id].append(role)
    return [grouped.get(user_id, []) for user_id in user_ids]
