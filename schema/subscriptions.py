"""Real-time change notifications: contactChanged, albumChanged, fileChanged.

Each event carries its kind, ids and ``eventId``, and resolves the *current* object on demand
(with fresh loaders per event, so nothing cached from an earlier event is served). A client
that reconnects passes the last ``eventId`` it got as ``after`` and receives every event it
missed, in order, then the live ones; from beyond the retention it gets RESYNC. Permission is
checked when subscribing and again for every event: a revoked session or a lost scope stops
the stream.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from functools import partial
from typing import Annotated, Any

import strawberry

from app.auth.viewer import Viewer
from app.db.models import Album as AlbumRow
from app.db.models import Contact as ContactRow
from app.events import (
    ALBUM_FAMILY,
    CONTACT_FAMILY,
    ChangeKind,
    Event,
    album_topic,
    contact_topic,
    files_topic,
)
from app.events.broker import SlowConsumer
from app.services.albums import ALBUM_SORTS, AlbumOrder
from app.services.contacts import CONTACT_SORTS, ContactOrder
from app.services.search import ListFilter, lists
from app.storage.entities import ENTITIES
from schema.context import Context, Info
from schema.declarations import ALBUM, ALBUMS, CONTACT, CONTACTS
from schema.errors import BadUserInput, ClientError, ErrorCode
from schema.filters import AlbumFilterInput, ContactFilterInput, to_list_filter
from schema.ids import decode_global_id, to_global_id
from schema.limits.nodes import MAX_ITEMS, PAGE
from schema.loaders import Loaders
from schema.pagination import Edge
from schema.permissions import require_scope
from schema.shared_execution import Shapes, SharedExecutions
from schema.types.album import Album
from schema.types.contact import Contact
from schema.types.photo import Photo
from schema.types.storage_entity import StorageEntityName
from schema.types.stored_file import StoredFile

strawberry.enum(ChangeKind, name="ChangeKind", description="What happened (RESYNC: refetch).")


class Dropped(ClientError):
    code = ErrorCode.SLOW_CONSUMER


AFTER = strawberry.argument(
    description="Resume after this eventId: every event since, in order, then the live ones "
    "(RESYNC when older than the retention)."
)
EVENT_ID = strawberry.field(
    description="This event's position: pass it as `after` to resume after it. For RESYNC, "
    "the position to resume from once refetched."
)


def event_id(event: Event) -> str:
    return str(event.id)


def parse_after(after: str | None) -> int | None:
    if after is None:
        return None
    if not after.isdecimal() or len(after) > 19:
        raise BadUserInput("`after` must be an eventId from an earlier event", argument="after")
    return int(after)


@strawberry.type(description="A contact changed (or its avatar did).")
class ContactEvent:
    kind: ChangeKind
    event_id: str = EVENT_ID
    contact_id: strawberry.ID
    key: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The contact as it is now; null once deleted.")
    async def contact(self, info: Info) -> Contact | None:
        row = await info.context.loaders.contact.load(self.key)
        return Contact.from_row(row) if row is not None else None


@strawberry.type(description="An album or its photos changed.")
class AlbumEvent:
    kind: ChangeKind
    event_id: str = EVENT_ID
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
    event_id: str = EVENT_ID
    entity: str = strawberry.field(description="The entity's name, as in StoredFile.entity.")
    file_id: strawberry.ID | None
    key: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The file as it is now; null once deleted.")
    async def file(self, info: Info) -> StoredFile | None:
        if self.key is None:
            return None
        row = await info.context.loaders.file.load(self.key)
        return StoredFile.from_row(row) if row is not None else None


@strawberry.type(
    description="A contact was created, changed or deleted: what keeps a contact list live."
)
class ContactListEvent:
    kind: ChangeKind
    event_id: str = EVENT_ID
    contact_id: strawberry.ID = strawberry.field(
        description="The contact concerned (for Relay's @deleteEdge, or evicting it)."
    )
    key: strawberry.Private[uuid.UUID]
    order: strawberry.Private[ContactOrder]

    @strawberry.field(description="The contact as it is now; null once deleted.")
    async def contact(self, info: Info) -> Contact | None:
        row = await info.context.loaders.contact.load(self.key)
        return Contact.from_row(row) if row is not None else None

    @strawberry.field(
        description="The contact as an edge of `contacts(orderBy:)` in the subscription's "
        "ordering, cursor included (for Relay's @appendEdge, or a cache update that inserts "
        "it in place); null once deleted."
    )
    async def edge(self, info: Info) -> Edge[Contact] | None:
        row = await info.context.loaders.contact.load(self.key)
        if row is None:
            return None
        return Edge(cursor=CONTACT_SORTS[self.order].encode(row), node=Contact.from_row(row))


@strawberry.type(
    description="An album was created, changed or deleted, or its photos changed: what keeps "
    "an album list live."
)
class AlbumListEvent:
    kind: ChangeKind
    event_id: str = EVENT_ID
    album_id: strawberry.ID = strawberry.field(
        description="The album concerned (for Relay's @deleteEdge, or evicting it)."
    )
    key: strawberry.Private[uuid.UUID]
    order: strawberry.Private[AlbumOrder]

    @strawberry.field(description="The album as it is now; null once deleted.")
    async def album(self, info: Info) -> Album | None:
        row = await info.context.loaders.album.load(self.key)
        return Album.from_row(row) if row is not None else None

    @strawberry.field(
        description="The album as an edge of `albums(orderBy:)` in the subscription's "
        "ordering, cursor included (for Relay's @appendEdge, or a cache update that inserts "
        "it in place); null once deleted."
    )
    async def edge(self, info: Info) -> Edge[Album] | None:
        row = await info.context.loaders.album.load(self.key)
        if row is None:
            return None
        return Edge(cursor=ALBUM_SORTS[self.order].encode(row), node=Album.from_row(row))


def _listed(
    context: Context, statement: Callable[[ListFilter], Any], key_column: Any, criteria: ListFilter
) -> Callable[[Event], Awaitable[bool]] | None:
    """A list subscription's filter: does the event's row (still) belong to the list?
    Deletions always pass - the client may hold the row."""
    if criteria.is_empty:
        return None

    async def keep(event: Event) -> bool:
        if event.kind is ChangeKind.DELETED:
            return True
        async with context.services.db.background() as session:
            return await lists(
                session, statement(criteria), key_column, uuid.UUID(hex=event.subject)
            )

    return keep


LIST_FILTER = strawberry.argument(
    description="Only rows in the list this filter selects (as the list field's `filter`); "
    "deletions always pass. A row that stops matching is not announced."
)
ORDER = strawberry.argument(description="The ordering the edges' cursors are for.")


async def _stream(
    info: Info,
    after: str | None,
    check: Callable[[], Awaitable[Viewer]],
    build: Callable[[Event], Any],
    *,
    topic: str | None = None,
    family: str | None = None,
    keep: Callable[[Event], Awaitable[bool]] | None = None,
) -> AsyncGenerator[Any, None]:
    """The events of one topic (one object) or one family (a whole list), each checked
    against the viewer, skipped unless ``keep`` (a list's filter) says otherwise, and
    executed once per shape."""
    context = info.context
    resume_after = parse_after(after if after is not None else context.resume_after)
    await check()
    shared: SharedExecutions = info.schema.shared_executions  # type: ignore[attr-defined]
    operation = info._raw_info.operation
    values: Any = info._raw_info.variable_values  # a dict at run time, whatever the stubs say
    shapes = Shapes(operation, getattr(values, "coerced", values))
    checked: Viewer | None = None

    def fresh_loaders() -> None:
        """Only for the subscriber that executes the event for its shape: nothing cached
        from an earlier event is served, and the others build nothing."""
        context.loaders = Loaders(context.db, context.services.cache, background=True)

    subscription = await context.services.broker.subscribe(
        [topic] if topic else [], families=[family] if family else [], after=resume_after
    )
    try:
        while True:
            try:
                event = await subscription.next()
            except SlowConsumer as exc:
                raise Dropped(
                    f'{exc}; resubscribe with `after: "{exc.last_id}"` to get what was missed',
                    resumeAfter=str(exc.last_id),
                ) from None
            # One turn per event and subscriber (schema.pacing): from here to the frame
            # written is one step when the shape's response is made already.
            await shared.pacer.turn()
            # Every event: a revoked session or a lost scope ends the stream. (The viewer is
            # re-read at most once a second; the same one has the same scopes.)
            viewer = await context.viewer()
            if viewer is not checked:
                viewer = checked = await check()
            shape = shapes.of(viewer)
            if keep is not None and event.kind is not ChangeKind.RESYNC:
                kept = await shared.once("keep", event.id, shape, operation, partial(keep, event))
                if not kept:
                    continue
            yield shared.event(partial(build, event), event.id, shape, operation, fresh_loaders)
    finally:
        subscription.close()


def _uuid(hex_value: str) -> uuid.UUID | None:
    return uuid.UUID(hex=hex_value) if hex_value else None


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Changes to one contact, including its avatar.")
    async def contact_changed(
        self,
        info: Info,
        id: strawberry.ID,
        after: Annotated[str | None, AFTER] = None,
    ) -> AsyncGenerator[ContactEvent, None]:
        key = decode_global_id(id, CONTACT.target)
        async for event in _stream(
            info,
            after,
            lambda: require_scope(info.context, CONTACT.scope),
            lambda e: ContactEvent(kind=e.kind, event_id=event_id(e), contact_id=id, key=key),
            topic=contact_topic(key),
        ):
            yield event

    @strawberry.subscription(description="Changes to one album and its photos.")
    async def album_changed(
        self,
        info: Info,
        id: strawberry.ID,
        after: Annotated[str | None, AFTER] = None,
    ) -> AsyncGenerator[AlbumEvent, None]:
        key = decode_global_id(id, "Album")

        def build(event: Event) -> AlbumEvent:
            keys = [uuid.UUID(hex=p) for p in event.photo_ids]
            return AlbumEvent(
                kind=event.kind,
                event_id=event_id(event),
                album_id=id,
                photo_ids=[strawberry.ID(to_global_id("Photo", k)) for k in keys],
                key=key,
                photo_keys=keys,
            )

        async for event in _stream(
            info,
            after,
            lambda: require_scope(info.context, ALBUM.scope),
            build,
            topic=album_topic(key),
        ):
            yield event

    @strawberry.subscription(description="Files stored in or removed from a storage entity.")
    async def file_changed(
        self,
        info: Info,
        entity: StorageEntityName,
        after: Annotated[str | None, AFTER] = None,
    ) -> AsyncGenerator[FileEvent, None]:
        name: str = entity.value
        storage = ENTITIES[name]  # (GraphQL validation let through only the enum's values)

        async def check() -> Viewer:
            viewer = await info.context.viewer()
            for scope in sorted(storage.readable):
                viewer = await require_scope(info.context, scope)
            return viewer

        def build(event: Event) -> FileEvent:
            key = _uuid(event.subject)
            file_id = strawberry.ID(to_global_id("StoredFile", key)) if key else None
            return FileEvent(
                kind=event.kind, event_id=event_id(event), entity=name, file_id=file_id, key=key
            )

        async for event in _stream(info, after, check, build, topic=files_topic(name)):
            yield event

    @strawberry.subscription(
        description="Every contact created, changed or deleted (each change of its avatar "
        "too): keeps a contacts list live."
    )
    async def contacts_changed(
        self,
        info: Info,
        filter: Annotated[ContactFilterInput | None, LIST_FILTER] = None,
        order_by: Annotated[ContactOrder, ORDER] = CONTACTS.listing.default_order,
        after: Annotated[str | None, AFTER] = None,
    ) -> AsyncGenerator[ContactListEvent, None]:
        keep = _listed(info.context, CONTACTS.statement, ContactRow.id, to_list_filter(filter))

        def build(event: Event) -> ContactListEvent:
            key = uuid.UUID(hex=event.subject) if event.subject else uuid.UUID(int=0)
            return ContactListEvent(
                kind=event.kind,
                event_id=event_id(event),
                contact_id=strawberry.ID(to_global_id("Contact", key)),
                key=key,
                order=order_by,
            )

        async for event in _stream(
            info,
            after,
            lambda: require_scope(info.context, CONTACTS.scope),
            build,
            family=CONTACT_FAMILY,
            keep=keep,
        ):
            yield event

    @strawberry.subscription(
        description="Every album created, changed or deleted (and each change of its "
        "photos): keeps an albums list live."
    )
    async def albums_changed(
        self,
        info: Info,
        filter: Annotated[AlbumFilterInput | None, LIST_FILTER] = None,
        order_by: Annotated[AlbumOrder, ORDER] = ALBUMS.listing.default_order,
        after: Annotated[str | None, AFTER] = None,
    ) -> AsyncGenerator[AlbumListEvent, None]:
        keep = _listed(info.context, ALBUMS.statement, AlbumRow.id, to_list_filter(filter))

        def build(event: Event) -> AlbumListEvent:
            key = uuid.UUID(hex=event.subject) if event.subject else uuid.UUID(int=0)
            return AlbumListEvent(
                kind=event.kind,
                event_id=event_id(event),
                album_id=strawberry.ID(to_global_id("Album", key)),
                key=key,
                order=order_by,
            )

        async for event in _stream(
            info,
            after,
            lambda: require_scope(info.context, ALBUMS.scope),
            build,
            family=ALBUM_FAMILY,
            keep=keep,
        ):
            yield event
