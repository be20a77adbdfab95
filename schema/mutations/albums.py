"""createAlbum, updateAlbum, deleteAlbum."""

from __future__ import annotations

import strawberry

from app.services import albums as service
from app.services.errors import ValidationFailed
from schema.context import Info
from schema.ids import decode_global_id, to_global_id
from schema.mutations.payloads import UserError, provided, user_errors
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
    album: Album | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteAlbumPayload:
    deleted_album_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AlbumMutations:
    @strawberry.mutation
    async def create_album(self, info: Info, input: CreateAlbumInput) -> AlbumPayload:
        try:
            async with info.context.db.session() as session:
                row = await service.create_album(session, provided(input, FIELDS))
        except ValidationFailed as failed:
            return AlbumPayload(user_errors=user_errors(failed.errors))
        return AlbumPayload(album=Album.from_row(row))

    @strawberry.mutation
    async def update_album(self, info: Info, input: UpdateAlbumInput) -> AlbumPayload:
        album_id = decode_global_id(input.id, "Album")
        try:
            async with info.context.db.session() as session:
                row = await service.update_album(session, album_id, provided(input, FIELDS))
        except ValidationFailed as failed:
            return AlbumPayload(user_errors=user_errors(failed.errors))
        return AlbumPayload(album=Album.from_row(row))

    @strawberry.mutation
    async def delete_album(self, info: Info, input: DeleteAlbumInput) -> DeleteAlbumPayload:
        album_id = decode_global_id(input.id, "Album")
        try:
            async with info.context.db.session() as session:
                await service.delete_album(session, album_id)
        except ValidationFailed as failed:
            return DeleteAlbumPayload(user_errors=user_errors(failed.errors))
        return DeleteAlbumPayload(deleted_album_id=strawberry.ID(to_global_id("Album", album_id)))
