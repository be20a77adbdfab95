"""Photos: one stored image in an album, with its caption and position."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from app.db.models import Photo as PhotoRow
from schema.context import Info
from schema.ids import to_global_id
from schema.types.node import Node
from schema.types.stored_file import StoredFile

if TYPE_CHECKING:
    from schema.types.album import Album


@strawberry.type(description="An image in an album.")
class Photo(Node):
    caption: str | None
    sort: int = strawberry.field(description="Position in the album; photos list by it.")
    created_at: datetime
    row_id: strawberry.Private[uuid.UUID]
    album_id: strawberry.Private[uuid.UUID]
    file_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def album(self, info: Info) -> Annotated[Album, strawberry.lazy("schema.types.album")]:
        from schema.types.album import Album

        row = await info.context.loaders.album.load(self.album_id)
        if row is None:  # deleted between the two reads of this request
            raise LookupError("the photo's album no longer exists")
        return Album.from_row(row)

    @strawberry.field
    async def file(self, info: Info) -> StoredFile:
        row = await info.context.loaders.file.load(self.file_id)
        if row is None:
            raise LookupError("the photo's file row no longer exists")
        return StoredFile.from_row(row)

    @classmethod
    def from_row(cls, row: PhotoRow) -> Photo:
        return cls(
            id=strawberry.ID(to_global_id("Photo", row.id)),
            caption=row.caption,
            sort=row.sort,
            created_at=row.created_at,
            row_id=row.id,
            album_id=row.album_id,
            file_id=row.file_id,
        )
