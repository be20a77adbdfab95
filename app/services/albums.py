"""Albums: create, change, delete, and the filtered, ordered listing."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from enum import StrEnum

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import DESCRIPTION_MAX, TITLE_MAX, Album, Photo
from app.db.orderings import sort_keys
from app.db.paging import SortKey
from app.events import album_topic
from app.services.errors import ValidationFailed
from app.services.records import create_record, update_record
from app.services.search import ListFilter, created_between, text_search
from app.services.validation import Cleaner


class AlbumOrder(StrEnum):
    TITLE_ASC = "TITLE_ASC"
    TITLE_DESC = "TITLE_DESC"
    CREATED_AT_ASC = "CREATED_AT_ASC"
    CREATED_AT_DESC = "CREATED_AT_DESC"


ALBUM_SORTS: dict[AlbumOrder, SortKey] = sort_keys(
    AlbumOrder, {"TITLE": Album.title, "CREATED_AT": Album.created_at}, tie_break=Album.id
)


class PhotoOrder(StrEnum):
    SORT_ASC = "SORT_ASC"
    SORT_DESC = "SORT_DESC"
    CREATED_AT_ASC = "CREATED_AT_ASC"
    CREATED_AT_DESC = "CREATED_AT_DESC"


PHOTO_SORTS: dict[PhotoOrder, SortKey] = sort_keys(
    PhotoOrder, {"SORT": Photo.sort, "CREATED_AT": Photo.created_at}, tie_break=Photo.id
)


def albums_statement(criteria: ListFilter) -> Select[Album]:
    statement = select(Album)
    if criteria.search is not None:
        statement = statement.where(text_search(criteria.search, Album.title))
    return statement.where(
        *created_between(Album.created_at, criteria.created_since, criteria.created_before)
    )


_EDITABLE = ("title", "description")


def _clean(changes: Mapping[str, str | None], *, creating: bool) -> dict[str, str | None]:
    cleaner = Cleaner()
    cleaned: dict[str, str | None] = {}
    if creating or "title" in changes:
        cleaned["title"] = cleaner.text(
            "title", changes.get("title"), max_length=TITLE_MAX, required=True, multiline=False
        )
    if "description" in changes:
        cleaned["description"] = cleaner.text(
            "description",
            changes["description"],
            max_length=DESCRIPTION_MAX,
            required=False,
            multiline=True,
        )
    if cleaner.errors:
        raise ValidationFailed(cleaner.errors)
    return cleaned


async def create_album(session: AsyncSession, fields: Mapping[str, str | None]) -> Album:
    cleaned = _clean({k: v for k, v in fields.items() if k in _EDITABLE}, creating=True)
    return await create_record(session, Album, cleaned, album_topic)


async def update_album(
    session: AsyncSession, album_id: uuid.UUID, changes: Mapping[str, str | None]
) -> Album:
    cleaned = _clean({k: v for k, v in changes.items() if k in _EDITABLE}, creating=False)
    return await update_record(session, Album, album_id, cleaned, album_topic)
