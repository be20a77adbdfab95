"""A stored file's metadata as clients see it."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from app.db.models import StoredFile as StoredFileRow
from schema.context import Info
from schema.ids import to_global_id
from schema.scalars import SafeInt
from schema.types.node import Node


@strawberry.type(description="An uploaded file kept in one storage entity.")
class StoredFile(Node):
    entity: str
    filename: str
    content_type: str
    size: SafeInt
    sha256: str
    width: int | None
    height: int | None
    created_at: datetime
    row_id: strawberry.Private[uuid.UUID]

    @strawberry.field(
        description="Where to download the file. Restricted files get a signed URL that "
        "expires (so an <img src> works without headers); public ones a permanent URL. "
        "Relative (/files/...) unless the server sets PUBLIC_URL: then absolute under it."
    )
    def url(self, info: Info) -> str:
        return info.context.services.urls.url(self.entity, self.row_id, self.filename)

    @classmethod
    def from_row(cls, row: StoredFileRow) -> StoredFile:
        return cls(
            id=strawberry.ID(to_global_id("StoredFile", row.id)),
            entity=row.entity,
            filename=row.filename,
            content_type=row.content_type,
            size=SafeInt(row.size),
            sha256=row.sha256,
            width=row.width,
            height=row.height,
            created_at=row.created_at,
            row_id=row.id,
        )
