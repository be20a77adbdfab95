"""The root Query type."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import strawberry

from app.auth.scopes import ALBUMS_READ, CONTACTS_READ
from app.services.albums import ALBUM_SORTS, AlbumOrder, albums_statement
from app.services.contacts import CONTACT_SORTS, ContactOrder, contacts_statement
from app.services.search import ListFilter
from schema.context import Info
from schema.errors import BadUserInput
from schema.ids import decode_global_id
from schema.node_resolver import resolve_node
from schema.pagination import Connection, list_connection, window_from_arguments
from schema.permissions import require_scope
from schema.types.album import Album
from schema.types.contact import Contact
from schema.types.node import Node

SEARCH_MAX = 200

strawberry.enum(ContactOrder, name="ContactOrder", description="Ties break on the id.")
strawberry.enum(AlbumOrder, name="AlbumOrder", description="Ties break on the id.")


@strawberry.input
class ListFilterInput:
    """What contact and album filters share; each list has its own input type to grow."""

    search: str | None = None
    created_since: datetime | None = strawberry.field(default=None, description="Inclusive.")
    created_before: datetime | None = strawberry.field(default=None, description="Exclusive.")

    def to_filter(self) -> ListFilter:
        if self.search is not None and len(self.search) > SEARCH_MAX:
            raise BadUserInput(f"search must be at most {SEARCH_MAX} characters")
        if self.search is not None and "\x00" in self.search:
            raise BadUserInput("search must not contain NUL characters")
        return ListFilter(self.search, _utc(self.created_since), _utc(self.created_before))


def _utc(moment: datetime | None) -> datetime | None:
    """In UTC (a time without zone is read as UTC); refused when UTC cannot hold it."""
    if moment is None:
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise BadUserInput(f"{moment.isoformat()} is out of range") from None


@strawberry.input(description="Narrow the contact list. All given conditions must hold.")
class ContactFilterInput(ListFilterInput):
    search: str | None = strawberry.field(
        default=None,
        description="Case-insensitive substring of the name or email; % and _ match literally.",
    )


@strawberry.input(description="Narrow the album list. All given conditions must hold.")
class AlbumFilterInput(ListFilterInput):
    search: str | None = strawberry.field(
        default=None,
        description="Case-insensitive substring of the title; % and _ match literally.",
    )


def to_list_filter(filter: ListFilterInput | None) -> ListFilter:
    """The service-level filter for an optional filter input."""
    return filter.to_filter() if filter is not None else ListFilter()


@strawberry.type
class Query:
    @strawberry.field(description="Fetch any object by its global id (Relay).")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await resolve_node(info.context, id)

    @strawberry.field(description="Fetch many objects by global id; null where none exists.")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > info.context.settings.page_size_max:
            raise BadUserInput(f"at most {info.context.settings.page_size_max} ids at once")
        # Gathered, so the loaders see every id in one tick and batch them.
        return list(await asyncio.gather(*(resolve_node(info.context, i) for i in ids)))

    @strawberry.field
    async def contact(self, info: Info, id: strawberry.ID) -> Contact | None:
        await require_scope(info.context, CONTACTS_READ)
        row = await info.context.loaders.contact.load(decode_global_id(id, "Contact"))
        return Contact.from_row(row) if row is not None else None

    @strawberry.field(description="Contacts, a page at a time (Relay cursor connection).")
    async def contacts(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: ContactFilterInput | None = None,
        order_by: ContactOrder = ContactOrder.NAME_ASC,
    ) -> Connection[Contact]:
        await require_scope(info.context, CONTACTS_READ)
        return list_connection(
            info.context,
            contacts_statement(to_list_filter(filter)),
            CONTACT_SORTS[order_by],
            window_from_arguments(info.context.settings, first, after, last, before),
            info.context.loaders.contact,
            Contact.from_row,
        )

    @strawberry.field
    async def album(self, info: Info, id: strawberry.ID) -> Album | None:
        await require_scope(info.context, ALBUMS_READ)
        row = await info.context.loaders.album.load(decode_global_id(id, "Album"))
        return Album.from_row(row) if row is not None else None

    @strawberry.field(description="Albums, a page at a time (Relay cursor connection).")
    async def albums(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: AlbumFilterInput | None = None,
        order_by: AlbumOrder = AlbumOrder.TITLE_ASC,
    ) -> Connection[Album]:
        await require_scope(info.context, ALBUMS_READ)
        return list_connection(
            info.context,
            albums_statement(to_list_filter(filter)),
            ALBUM_SORTS[order_by],
            window_from_arguments(info.context.settings, first, after, last, before),
            info.context.loaders.album,
            Album.from_row,
        )
