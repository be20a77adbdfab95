"""Files attached to records: one per record (avatars) and many per record (album photos).

Every use case follows the protocol in app.storage.files: inspect the upload, then one write
transaction that records the new file rows and drops the replaced ones, then - after commit -
collect the blobs nothing references any more.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import CAPTION_MAX, Album, Contact, Photo, StoredFile, User
from app.db.transactions import writing
from app.events import (
    ChangeKind,
    Event,
    album_topic,
    contact_topic,
    files_topic,
    record,
    user_changed,
)
from app.services.errors import FieldError, FieldErrorCode, ValidationFailed
from app.services.records import locked
from app.services.validation import Cleaner
from app.storage.files import BlobRef, Files, Incoming, Inspected
from app.storage.probe import NotAcceptable

CONTACT_AVATAR = "contacts.avatar"
USER_AVATAR = "users.avatar"
ALBUM_PHOTOS = "albums.photos"


async def _inspect(files: Files, entity: str, incoming: Incoming, field: str) -> Inspected:
    try:
        return await files.inspect(entity, incoming)
    except NotAcceptable as refused:
        raise ValidationFailed(
            [FieldError(field, str(refused), FieldErrorCode.INVALID_FILE)]
        ) from None


async def _drop_file(session: AsyncSession, file_id: uuid.UUID | None) -> BlobRef | None:
    if file_id is None:
        return None
    row = await session.get(StoredFile, file_id)
    if row is None:
        return None
    await session.delete(row)
    record(session, Event(files_topic(row.entity), ChangeKind.FILE_DELETED, row.id.hex))
    return row.entity, row.sha256


# -- one file per record ----------------------------------------------------------------------


def _announce_avatar(
    session: AsyncSession, model: type[Contact] | type[User], key: uuid.UUID, kind: ChangeKind
) -> None:
    if model is Contact:
        record(session, Event(contact_topic(key), kind, key.hex))
    else:
        record(session, user_changed(key))


async def _set_single(
    session: AsyncSession,
    files: Files,
    model: type[Contact] | type[User],
    key: uuid.UUID,
    entity: str,
    incoming: Incoming,
    uploaded_by: uuid.UUID | None,
) -> Any:
    inspected = await _inspect(files, entity, incoming, "file")
    async with writing(session):
        owner = await locked(session, model, key)
        previous = owner.avatar_id
        row = await files.record(session, entity, inspected, uploaded_by)
        await session.flush()
        owner.avatar_id = row.id
        await session.flush()
        replaced = await _drop_file(session, previous)
        kind = ChangeKind.AVATAR_REPLACED if previous else ChangeKind.AVATAR_SET
        _announce_avatar(session, model, key, kind)
    await files.collect(session, [replaced] if replaced else [])
    return owner


async def _remove_single(
    session: AsyncSession, files: Files, model: type[Contact] | type[User], key: uuid.UUID
) -> Any:
    async with writing(session):
        owner = await locked(session, model, key)
        previous, owner.avatar_id = owner.avatar_id, None
        await session.flush()
        removed = await _drop_file(session, previous)
        if previous is not None:
            _announce_avatar(session, model, key, ChangeKind.AVATAR_REMOVED)
    await files.collect(session, [removed] if removed else [])
    return owner


async def set_contact_avatar(
    session: AsyncSession,
    files: Files,
    contact_id: uuid.UUID,
    incoming: Incoming,
    uploaded_by: uuid.UUID | None,
) -> Contact:
    contact: Contact = await _set_single(
        session, files, Contact, contact_id, CONTACT_AVATAR, incoming, uploaded_by
    )
    return contact


async def remove_contact_avatar(
    session: AsyncSession, files: Files, contact_id: uuid.UUID
) -> Contact:
    contact: Contact = await _remove_single(session, files, Contact, contact_id)
    return contact


async def set_user_avatar(
    session: AsyncSession, files: Files, user_id: uuid.UUID, incoming: Incoming
) -> User:
    user: User = await _set_single(session, files, User, user_id, USER_AVATAR, incoming, user_id)
    return user


async def remove_user_avatar(session: AsyncSession, files: Files, user_id: uuid.UUID) -> User:
    user: User = await _remove_single(session, files, User, user_id)
    return user


async def delete_contact(session: AsyncSession, files: Files, contact_id: uuid.UUID) -> None:
    """The contact, then its avatar's row, then (after commit) the avatar's blob."""
    async with writing(session):
        contact = await locked(session, Contact, contact_id)
        avatar_id = contact.avatar_id
        await session.delete(contact)
        await session.flush()
        removed = await _drop_file(session, avatar_id)
        record(session, Event(contact_topic(contact_id), ChangeKind.DELETED, contact_id.hex))
    await files.collect(session, [removed] if removed else [])


# -- many files per record: album photos ------------------------------------------------------


def _caption(cleaner: Cleaner, field: str, value: str | None) -> str | None:
    return cleaner.text(field, value, max_length=CAPTION_MAX, required=False, multiline=True)


async def add_photos(
    session: AsyncSession,
    files: Files,
    album_id: uuid.UUID,
    incoming: Sequence[Incoming],
    captions: Sequence[str | None] | None,
    uploaded_by: uuid.UUID | None,
) -> list[Photo]:
    """All or nothing: every file is inspected before any is recorded."""
    limits = files.limits(ALBUM_PHOTOS)
    cleaner = Cleaner()
    if not incoming:
        cleaner.fail("files", "send at least one file", FieldErrorCode.REQUIRED)
    if len(incoming) > limits.max_files:
        cleaner.fail(
            "files", f"at most {limits.max_files} files at once", FieldErrorCode.TOO_MANY_FILES
        )
    captions = list(captions or [])
    if len(captions) > len(incoming):
        cleaner.fail("captions", "more captions than files", FieldErrorCode.INVALID_VALUE)
    cleaned = [_caption(cleaner, f"captions.{i}", c) for i, c in enumerate(captions)]
    if cleaner.errors:
        raise ValidationFailed(cleaner.errors)
    inspected: list[Inspected] = []
    problems: list[FieldError] = []
    for index, upload in enumerate(incoming):
        try:
            inspected.append(await _inspect(files, ALBUM_PHOTOS, upload, f"files.{index}"))
        except ValidationFailed as failed:
            problems += failed.errors
    if problems:
        raise ValidationFailed(problems)

    async with writing(session):
        await locked(session, Album, album_id, field="albumId")
        last = await session.scalar(select(func.max(Photo.sort)).where(Photo.album_id == album_id))
        start = -1 if last is None else last
        rows = [await files.record(session, ALBUM_PHOTOS, item, uploaded_by) for item in inspected]
        await session.flush()  # file rows first: photos reference them
        photos = [
            Photo(
                album_id=album_id,
                file_id=row.id,
                caption=cleaned[offset] if offset < len(cleaned) else None,
                sort=start + 1 + offset,
            )
            for offset, row in enumerate(rows)
        ]
        session.add_all(photos)
        await session.flush()
        ids = tuple(p.id.hex for p in photos)
        record(session, Event(album_topic(album_id), ChangeKind.PHOTOS_ADDED, album_id.hex, ids))
    return photos


async def update_photo(session: AsyncSession, photo_id: uuid.UUID, caption: str | None) -> Photo:
    cleaner = Cleaner()
    cleaned = _caption(cleaner, "caption", caption)
    if cleaner.errors:
        raise ValidationFailed(cleaner.errors)
    async with writing(session):
        photo = await locked(session, Photo, photo_id)
        photo.caption = cleaned
        record(session, _photo_event(photo.album_id, ChangeKind.PHOTO_UPDATED, photo.id))
    return photo


async def reorder_photos(
    session: AsyncSession, album_id: uuid.UUID, photo_ids: Sequence[uuid.UUID]
) -> list[Photo]:
    """``photo_ids`` must name every photo of the album exactly once; they take that order."""
    async with writing(session):
        await locked(session, Album, album_id, field="albumId")
        photos = {
            p.id: p
            for p in (await session.scalars(select(Photo).where(Photo.album_id == album_id)))
        }
        if len(photo_ids) != len(set(photo_ids)) or set(photo_ids) != set(photos):
            raise ValidationFailed(
                [
                    FieldError(
                        "photoIds",
                        f"must list each of the album's {len(photos)} photos exactly once",
                        FieldErrorCode.INVALID_VALUE,
                    )
                ]
            )
        for position, key in enumerate(photo_ids):
            photos[key].sort = position
        ids = tuple(key.hex for key in photo_ids)
        record(
            session, Event(album_topic(album_id), ChangeKind.PHOTOS_REORDERED, album_id.hex, ids)
        )
    return [photos[key] for key in photo_ids]


def _photo_event(album_id: uuid.UUID, kind: ChangeKind, photo_id: uuid.UUID) -> Event:
    return Event(album_topic(album_id), kind, album_id.hex, (photo_id.hex,))


async def _close_gap(session: AsyncSession, album_id: uuid.UUID, sort: int) -> None:
    await session.execute(
        update(Photo)
        .where(Photo.album_id == album_id, Photo.sort > sort)
        .values(sort=Photo.sort - 1)
    )


async def move_photo(
    session: AsyncSession,
    photo_id: uuid.UUID,
    to_album_id: uuid.UUID,
    position: int | None,
) -> Photo:
    """Move a photo to ``position`` (0 = first; past the end or None = last) of an album."""
    if position is not None and position < 0:
        raise ValidationFailed(
            [FieldError("position", "must not be negative", FieldErrorCode.INVALID_VALUE)]
        )
    async with writing(session):
        photo = await locked(session, Photo, photo_id)
        # Lock both albums in id order: two opposite moves cannot deadlock.
        for key in sorted({photo.album_id, to_album_id}):
            await locked(session, Album, key, field="toAlbumId" if key == to_album_id else "id")
        await _close_gap(session, photo.album_id, photo.sort)
        photo.sort = -1  # out of the way while the target makes room
        await session.flush()
        count = (
            await session.scalar(
                select(func.count())
                .select_from(Photo)
                .where(Photo.album_id == to_album_id, Photo.id != photo.id)
            )
            or 0
        )
        target = count if position is None else min(position, count)
        await session.execute(
            update(Photo)
            .where(Photo.album_id == to_album_id, Photo.id != photo.id, Photo.sort >= target)
            .values(sort=Photo.sort + 1)
        )
        source = photo.album_id
        photo.album_id = to_album_id
        photo.sort = target
        for album in dict.fromkeys((source, to_album_id)):
            record(session, _photo_event(album, ChangeKind.PHOTO_MOVED, photo.id))
    await session.refresh(photo)
    return photo


async def replace_photo_file(
    session: AsyncSession,
    files: Files,
    photo_id: uuid.UUID,
    incoming: Incoming,
    uploaded_by: uuid.UUID | None,
) -> Photo:
    inspected = await _inspect(files, ALBUM_PHOTOS, incoming, "file")
    async with writing(session):
        photo = await locked(session, Photo, photo_id)
        previous = photo.file_id
        row = await files.record(session, ALBUM_PHOTOS, inspected, uploaded_by)
        await session.flush()
        photo.file_id = row.id
        await session.flush()
        replaced = await _drop_file(session, previous)
        record(session, _photo_event(photo.album_id, ChangeKind.PHOTO_REPLACED, photo.id))
    await files.collect(session, [replaced] if replaced else [])
    return photo


async def delete_photo(session: AsyncSession, files: Files, photo_id: uuid.UUID) -> Photo:
    async with writing(session):
        photo = await locked(session, Photo, photo_id)
        await session.delete(photo)
        await session.flush()
        await _close_gap(session, photo.album_id, photo.sort)
        removed = await _drop_file(session, photo.file_id)
        record(session, _photo_event(photo.album_id, ChangeKind.PHOTO_DELETED, photo.id))
    await files.collect(session, [removed] if removed else [])
    return photo


async def delete_album(session: AsyncSession, files: Files, album_id: uuid.UUID) -> None:
    """The album and its photos (cascade), their file rows, and after commit their blobs."""
    async with writing(session):
        await locked(session, Album, album_id)
        file_ids = list(
            await session.scalars(select(Photo.file_id).where(Photo.album_id == album_id))
        )
        album = await session.get(Album, album_id)
        await session.delete(album)
        await session.flush()
        removed = [ref for key in file_ids if (ref := await _drop_file(session, key))]
        record(session, Event(album_topic(album_id), ChangeKind.DELETED, album_id.hex))
    await files.collect(session, removed)
