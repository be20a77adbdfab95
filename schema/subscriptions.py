"""Real-time change notifications: contactChanged, albumChanged, fileChanged.

Each event carries its kind and ids, and resolves the *current* object on demand (with fresh
loaders per event, so nothing cached from an earlier event is served). Permission is checked
when subscribing and again for every event: a revoked session or a lost scope stops the stream.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import strawberry

from app.auth.scopes import ALBUMS_READ, CONTACTS_READ
from app.events import ChangeKind, Event, album_topic, contact_topic, files_topic
from app.kv.broker import SlowConsumer
from app.storage.entities import ENTITIES
from schema.context import Context, Info
from schema.errors import ClientError, ErrorCode
from schema.ids import decode_global_id, to_global_id
from schema.limits.nodes import MAX_ITEMS, PAGE
from schema.loaders import Loaders
from schema.permissions import require_scope
from schema.types.album import Album
from schema.types.contact import Contact
from schema.types.photo import Photo
from schema.types.storage_entity import StorageEntityName
from schema.types.stored_file import StoredFile

strawberry.enum(ChangeKind, name="ChangeKind", description="What happened (RESYNC: refetch).")


class Dropped(ClientError):
    code = ErrorCode.SLOW_CONSUMER


@strawberry.type(description="A contact changed (or its avatar did).")
class ContactEvent:
    kind: ChangeKind
    contact_id: strawberry.ID
    key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The contact as it is now; null once deleted.")
    async def contact(self, info: Info) -> Contact | None:
        row = await info.context.loaders.contact.load(self.key)
        return Contact.from_row(row) if row is not None else None


@strawberry.type(description="An album or its photos changed.")
class AlbumEvent:
    kind: ChangeKind
    album_id: strawberry.ID
    photo_ids: list[strawberry.ID] = strawberry.field(description="The photos concerned.")
    key: strawberry.Private[uuid.UUID]
    photo_keys: strawberry.Private[list[uuid.UUID]]

    @strawberry.field(description="The album as it is now; null once deleted.")
    async def album(self, info: Info) -> Album | None:
        row = await info.context.loaders.album.load(self.key)
        return Album.from_row(row) if row is not None else None

    @strawberry.field(
        description="The photos concerned as they are now (deleted ones omitted), at most "
        "the largest page size (PAGE_SIZE_MAX); `photoIds` lists them all.",
        metadata={MAX_ITEMS: PAGE},
    )
    async def photos(self, info: Info) -> list[Photo]:
        keys = self.photo_keys[: info.context.settings.page_size_max]
        rows = await info.context.loaders.photo.load_many(keys)  # one batch
        return [Photo.from_row(row) for row in rows if row is not None]


@strawberry.type(description="A file was stored in, or removed from, a storage entity.")
class FileEvent:
    kind: ChangeKind
    entity: str = strawberry.field(description="The entity's name, as in StoredFile.entity.")
    file_id: strawberry.ID | None
    key: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The file as it is now; null once deleted.")
    async def file(self, info: Info) -> StoredFile | None:
        if self.key is None:
            return None
        row = await info.context.loaders.file.load(self.key)
        return StoredFile.from_row(row) if row is not None else None


async def _stream(
    context: Context,
    topic: str,
    check: Callable[[], Awaitable[Any]],
    build: Callable[[Event], Any],
) -> AsyncGenerator[Any, None]:
    await check()
    subscription = context.services.broker.subscribe([topic])
    try:
        while True:
            try:
                event = await subscription.next()
            except SlowConsumer as exc:
                raise Dropped(str(exc)) from None
            await check()  # every event: a revoked session or a lost scope ends the stream
            context.loaders = Loaders(context.db, context.services.cache)
            yield build(event)
    finally:
        subscription.close()


def _uuid(hex_value: str) -> uuid.UUID | None:
    return uuid.UUID(hex=hex_value) if hex_value else None


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Changes to one contact, including its avatar.")
    async def contact_changed(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[ContactEvent, None]:
        key = decode_global_id(id, "Contact")
        async for event in _stream(
            info.context,
            contact_topic(key),
            lambda: require_scope(info.context, CONTACTS_READ),
            lambda e: ContactEvent(kind=e.kind, contact_id=id, key=key),
        ):
            yield event

    @strawberry.subscription(description="Changes to one album and its photos.")
    async def album_changed(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[AlbumEvent, None]:
        key = decode_global_id(id, "Album")

        def build(event: Event) -> AlbumEvent:
            keys = [uuid.UUID(hex=p) for p in event.photo_ids]
            return AlbumEvent(
                kind=event.kind,
                album_id=id,
                photo_ids=[strawberry.ID(to_global_id("Photo", k)) for k in keys],
                key=key,
                photo_keys=keys,
            )

        async for event in _stream(
            info.context, album_topic(key), lambda: require_scope(info.context, ALBUMS_READ), build
        ):
            yield event

    @strawberry.subscription(description="Files stored in or removed from a storage entity.")
    async def file_changed(
        self,
        info: Info,
        entity: StorageEntityName,
    ) -> AsyncGenerator[FileEvent, None]:
        name: str = entity.value
        storage = ENTITIES[name]  # (GraphQL validation let through only the enum's values)

        async def check() -> None:
            for scope in sorted(storage.readable):
                await require_scope(info.context, scope)

        def build(event: Event) -> FileEvent:
            key = _uuid(event.subject)
            file_id = strawberry.ID(to_global_id("StoredFile", key)) if key else None
            return FileEvent(kind=event.kind, entity=name, file_id=file_id, key=key)

        async for event in _stream(info.context, files_topic(name), check, build):
            yield event
