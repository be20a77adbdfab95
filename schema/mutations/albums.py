"""createAlbum, updateAlbum, deleteAlbum."""

from __future__ import annotations

import strawberry

from app.auth.scopes import ALBUMS_WRITE
from app.services import albums as service
from app.services import attachments
from schema.context import Info
from schema.ids import decode_global_id, to_global_id
from schema.mutations.payloads import UserError, call_service, provided
from schema.permissions import require_scope
from schema.types.album import Album

FIELDS = ("title", "description")


@strawberry.input
class CreateAlbumInput:
    title: str
    description: str | None = None


@strawberry.input(description="Only the fields given change; null clears an optional field.")
class UpdateAlbumInput:
    id: strawberry.ID
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET


@strawberry.input
class DeleteAlbumInput:
    id: strawberry.ID


@strawberry.type
class AlbumPayload:
    album: Album | None
    user_errors: list[UserError]


@strawberry.type
class DeleteAlbumPayload:
    deleted_album_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.type
class AlbumMutations:
    @strawberry.mutation
    async def create_album(self, info: Info, input: CreateAlbumInput) -> AlbumPayload:
        await require_scope(info.context, ALBUMS_WRITE)
        fields = provided(input, FIELDS)
        row, errors = await call_service(info, lambda s: service.create_album(s, fields))
        return AlbumPayload(album=Album.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def update_album(self, info: Info, input: UpdateAlbumInput) -> AlbumPayload:
        await require_scope(info.context, ALBUMS_WRITE)
        key, changes = decode_global_id(input.id, "Album"), provided(input, FIELDS)
        row, errors = await call_service(info, lambda s: service.update_album(s, key, changes))
        return AlbumPayload(album=Album.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def delete_album(self, info: Info, input: DeleteAlbumInput) -> DeleteAlbumPayload:
        await require_scope(info.context, ALBUMS_WRITE)
        key = decode_global_id(input.id, "Album")
        files = info.context.files
        _, errors = await call_service(info, lambda s: attachments.delete_album(s, files, key))
        deleted = None if errors else strawberry.ID(to_global_id("Album", key))
        return DeleteAlbumPayload(deleted_album_id=deleted, user_errors=errors)
