"""Uploads (GraphQL multipart request spec) and the photo operations around them."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry
from strawberry.file_uploads import Upload

from app.auth.scopes import ALBUMS_WRITE, CONTACTS_WRITE
from app.services import attachments
from app.storage.entities import ENTITIES
from app.storage.files import Incoming
from schema.context import Context, Info
from schema.errors import BadUserInput
from schema.ids import decode_global_id, to_global_id
from schema.mutations.payloads import UserError, call_service
from schema.permissions import require_scope, require_viewer
from schema.types.album import Album
from schema.types.contact import Contact
from schema.types.photo import Photo
from schema.types.user import User


def incoming(value: Any, argument: str) -> Incoming:
    """An ``Upload`` variable must have been filled by a multipart request."""
    if not isinstance(value, Incoming):
        raise BadUserInput(
            f"{argument} must be a file sent with a multipart request "
            "(GraphQL multipart request spec)",
            argument=argument,
        )
    return value


async def require_entity_write(context: Context, entity: str, record_scope: str) -> uuid.UUID:
    """The record's write scope and the storage entity's own; returns the uploader's id."""
    viewer = await require_scope(context, record_scope)
    for scope in sorted(ENTITIES[entity].requires):
        await require_scope(context, scope)
    assert viewer.user_id is not None
    return viewer.user_id


@strawberry.input
class SetContactAvatarInput:
    contact_id: strawberry.ID
    file: Upload


@strawberry.input
class RemoveContactAvatarInput:
    contact_id: strawberry.ID


@strawberry.input(description="Add photos at the end of an album; all are added or none.")
class AddPhotosInput:
    album_id: strawberry.ID
    files: list[Upload]
    captions: list[str | None] | None = strawberry.field(
        default=None, description="Captions, by position in files; may be shorter."
    )


@strawberry.input
class UpdatePhotoInput:
    id: strawberry.ID
    caption: str | None


@strawberry.input(description="Every photo of the album, once each, in their new order.")
class ReorderPhotosInput:
    album_id: strawberry.ID
    photo_ids: list[strawberry.ID]


@strawberry.input
class MovePhotoInput:
    id: strawberry.ID
    to_album_id: strawberry.ID
    position: int | None = strawberry.field(
        default=None, description="0 is first; null or past the end puts it last."
    )


@strawberry.input
class ReplacePhotoFileInput:
    id: strawberry.ID
    file: Upload


@strawberry.input
class DeletePhotoInput:
    id: strawberry.ID


@strawberry.input
class SetMyAvatarInput:
    file: Upload


@strawberry.type
class AvatarPayload:
    contact: Contact | None
    user_errors: list[UserError]


@strawberry.type
class PhotosPayload:
    album: Album | None
    photos: list[Photo]
    user_errors: list[UserError]


@strawberry.type
class PhotoPayload:
    photo: Photo | None
    user_errors: list[UserError]


@strawberry.type
class DeletePhotoPayload:
    deleted_photo_id: strawberry.ID | None
    album: Album | None
    user_errors: list[UserError]


@strawberry.type
class MyAvatarPayload:
    user: User | None
    user_errors: list[UserError]


async def _album(info: Info, album_id: uuid.UUID) -> Album | None:
    row = await info.context.loaders.album.load(album_id)
    return Album.from_row(row) if row is not None else None


@strawberry.type
class FileMutations:
    @strawberry.mutation(description="Upload (or replace) a contact's picture.")
    async def set_contact_avatar(self, info: Info, input: SetContactAvatarInput) -> AvatarPayload:
        uploader = await require_entity_write(info.context, "contacts.avatar", CONTACTS_WRITE)
        key, file = decode_global_id(input.contact_id, "Contact"), incoming(input.file, "file")
        files = info.context.files
        row, errors = await call_service(
            info, lambda s: attachments.set_contact_avatar(s, files, key, file, uploader)
        )
        return AvatarPayload(contact=Contact.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def remove_contact_avatar(
        self, info: Info, input: RemoveContactAvatarInput
    ) -> AvatarPayload:
        await require_entity_write(info.context, "contacts.avatar", CONTACTS_WRITE)
        key, files = decode_global_id(input.contact_id, "Contact"), info.context.files
        row, errors = await call_service(
            info, lambda s: attachments.remove_contact_avatar(s, files, key)
        )
        return AvatarPayload(contact=Contact.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def add_photos(self, info: Info, input: AddPhotosInput) -> PhotosPayload:
        uploader = await require_entity_write(info.context, "albums.photos", ALBUMS_WRITE)
        key = decode_global_id(input.album_id, "Album")
        uploads = [incoming(f, f"files.{i}") for i, f in enumerate(input.files)]
        files = info.context.files
        rows, errors = await call_service(
            info,
            lambda s: attachments.add_photos(s, files, key, uploads, input.captions, uploader),
        )
        if rows is None:
            return PhotosPayload(album=None, photos=[], user_errors=errors)
        return PhotosPayload(
            album=await _album(info, key),
            photos=[Photo.from_row(row) for row in rows],
            user_errors=[],
        )

    @strawberry.mutation
    async def update_photo(self, info: Info, input: UpdatePhotoInput) -> PhotoPayload:
        await require_scope(info.context, ALBUMS_WRITE)
        key = decode_global_id(input.id, "Photo")
        row, errors = await call_service(
            info, lambda s: attachments.update_photo(s, key, input.caption)
        )
        return PhotoPayload(photo=Photo.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def reorder_photos(self, info: Info, input: ReorderPhotosInput) -> PhotosPayload:
        await require_scope(info.context, ALBUMS_WRITE)
        key = decode_global_id(input.album_id, "Album")
        order = [decode_global_id(i, "Photo") for i in input.photo_ids]
        rows, errors = await call_service(info, lambda s: attachments.reorder_photos(s, key, order))
        if rows is None:
            return PhotosPayload(album=None, photos=[], user_errors=errors)
        return PhotosPayload(
            album=await _album(info, key), photos=[Photo.from_row(r) for r in rows], user_errors=[]
        )

    @strawberry.mutation
    async def move_photo(self, info: Info, input: MovePhotoInput) -> PhotoPayload:
        await require_scope(info.context, ALBUMS_WRITE)
        key = decode_global_id(input.id, "Photo")
        target = decode_global_id(input.to_album_id, "Album")
        row, errors = await call_service(
            info, lambda s: attachments.move_photo(s, key, target, input.position)
        )
        return PhotoPayload(photo=Photo.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def replace_photo_file(self, info: Info, input: ReplacePhotoFileInput) -> PhotoPayload:
        uploader = await require_entity_write(info.context, "albums.photos", ALBUMS_WRITE)
        key, file = decode_global_id(input.id, "Photo"), incoming(input.file, "file")
        files = info.context.files
        row, errors = await call_service(
            info, lambda s: attachments.replace_photo_file(s, files, key, file, uploader)
        )
        return PhotoPayload(photo=Photo.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def delete_photo(self, info: Info, input: DeletePhotoInput) -> DeletePhotoPayload:
        await require_entity_write(info.context, "albums.photos", ALBUMS_WRITE)
        key, files = decode_global_id(input.id, "Photo"), info.context.files
        row, errors = await call_service(info, lambda s: attachments.delete_photo(s, files, key))
        if row is None:
            return DeletePhotoPayload(deleted_photo_id=None, album=None, user_errors=errors)
        return DeletePhotoPayload(
            deleted_photo_id=strawberry.ID(to_global_id("Photo", key)),
            album=await _album(info, row.album_id),
            user_errors=[],
        )

    @strawberry.mutation(description="Upload (or replace) the signed-in user's picture.")
    async def set_my_avatar(self, info: Info, input: SetMyAvatarInput) -> MyAvatarPayload:
        viewer = await require_viewer(info.context)
        assert viewer.user_id is not None
        user_id, file, files = viewer.user_id, incoming(input.file, "file"), info.context.files
        row, errors = await call_service(
            info, lambda s: attachments.set_user_avatar(s, files, user_id, file)
        )
        return MyAvatarPayload(user=User.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def remove_my_avatar(self, info: Info) -> MyAvatarPayload:
        viewer = await require_viewer(info.context)
        assert viewer.user_id is not None
        user_id, files = viewer.user_id, info.context.files
        row, errors = await call_service(
            info, lambda s: attachments.remove_user_avatar(s, files, user_id)
        )
        return MyAvatarPayload(user=User.from_row(row) if row else None, user_errors=errors)
