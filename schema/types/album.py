"""Albums and their photo connection."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import select

from app.auth.scopes import ALBUMS_WRITE
from app.db import paging
from app.db.models import Album as AlbumRow
from app.db.models import Photo as PhotoRow
from app.db.paging import InvalidCursor, Page, Window
from app.services.albums import PHOTO_SORTS
from app.services.albums import PhotoOrder as PhotoOrderValue
from app.shared_tasks import uncancelled
from schema.context import Context, Info
from schema.declarations import PHOTOS
from schema.errors import BadUserInput
from schema.ids import to_global_id
from schema.pagination import Connection, window_from_arguments
from schema.types.node import Node
from schema.types.photo import Photo

PhotoOrder = strawberry.enum(
    PhotoOrderValue, name="PhotoOrder", description="How to order photos; ties break on the id."
)


COVER_WINDOW = Window(limit=1)


class AlbumPhotosSource:
    """One album's photo page, fetched together with the other albums' through a DataLoader."""

    def __init__(
        self, context: Context, album_id: uuid.UUID, order: PhotoOrderValue, window: Window
    ):
        self.context, self.album_id, self.order, self.window = context, album_id, order, window

    async def page(self) -> Page[Any]:
        try:
            return await self.context.loaders.photo_page.load(
                (self.album_id, self.order, self.window)
            )
        except InvalidCursor as exc:
            raise BadUserInput(str(exc), argument="after/before") from None

    async def total_count(self) -> int:
        return await self.context.loaders.photo_count.load(self.album_id)

    async def behind(self) -> bool:
        cursor = self.window.after if self.window.forward else self.window.before
        if cursor is None:
            return False
        return await uncancelled(self._exists_behind(cursor))

    async def _exists_behind(self, cursor: str) -> bool:
        statement = select(PhotoRow).where(PhotoRow.album_id == self.album_id)
        async with self.context.loaders.session() as session:
            return await paging.exists_behind(
                session, statement, PHOTO_SORTS[self.order], cursor, forward=self.window.forward
            )


@strawberry.type(description="A titled collection of photos.")
class Album(Node):
    title: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    row_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The album's photos, by position unless ordered otherwise.")
    def photos(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: PhotoOrderValue = PHOTOS.default_order,
    ) -> Connection[Photo]:
        window = window_from_arguments(info.context.settings, first, after, last, before)
        source = AlbumPhotosSource(info.context, self.row_id, order_by, window)
        to_node = info.context.loaders.photo.primed(Photo.from_row)
        return Connection(_source=source, _to_node=to_node)

    @strawberry.field(description="The album's first photo (by position), if any.")
    async def cover(self, info: Info) -> Photo | None:
        page = await info.context.loaders.photo_page.load(
            (self.row_id, PhotoOrderValue.SORT_ASC, COVER_WINDOW)
        )
        return (
            info.context.loaders.photo.primed(Photo.from_row)(page.rows[0]) if page.rows else None
        )

    @strawberry.field(description="How many photos the album holds.")
    async def photo_count(self, info: Info) -> int:
        return await info.context.loaders.photo_count.load(self.row_id)

    @strawberry.field(
        description="Whether the viewer may change this album and its photos (it holds "
        "albums.write): to show or hide edit controls."
    )
    async def viewer_can_edit(self, info: Info) -> bool:
        return (await info.context.viewer()).can(ALBUMS_WRITE)

    @classmethod
    def from_row(cls, row: AlbumRow) -> Album:
        return cls(
            id=strawberry.ID(to_global_id("Album", row.id)),
            title=row.title,
            description=row.description,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row_id=row.id,
        )
