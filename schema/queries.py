"""The root Query type."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.services.albums import ALBUM_SORTS, AlbumFilter, AlbumOrder, albums_statement
from app.services.contacts import CONTACT_SORTS, ContactFilter, ContactOrder, contacts_statement
from schema.context import Info
from schema.errors import BadUserInput
from schema.ids import decode_global_id
from schema.node_resolver import resolve_node
from schema.pagination import Connection, QuerySource, window_from_arguments
from schema.types.album import Album
from schema.types.contact import Contact
from schema.types.node import Node

SEARCH_MAX = 200

ContactOrderEnum = strawberry.enum(
    ContactOrder, name="ContactOrder", description="Contact orderings; ties break on the id."
)
AlbumOrderEnum = strawberry.enum(
    AlbumOrder, name="AlbumOrder", description="Album orderings; ties break on the id."
)


@strawberry.input(description="Narrow a contact list. All given conditions must hold.")
class ContactFilterInput:
    search: str | None = strawberry.field(
        default=None, description="Case-insensitive substring of the name or email."
    )
    created_since: datetime | None = strawberry.field(default=None, description="Inclusive.")
    created_before: datetime | None = strawberry.field(default=None, description="Exclusive.")


@strawberry.input(description="Narrow an album list. All given conditions must hold.")
class AlbumFilterInput:
    search: str | None = strawberry.field(
        default=None, description="Case-insensitive substring of the title."
    )
    created_since: datetime | None = strawberry.field(default=None, description="Inclusive.")
    created_before: datetime | None = strawberry.field(default=None, description="Exclusive.")


def _search(term: str | None) -> str | None:
    if term is not None and len(term) > SEARCH_MAX:
        raise BadUserInput(f"search must be at most {SEARCH_MAX} characters", argument="filter")
    return term


@strawberry.type
class Query:
    @strawberry.field(description="Fetch any object by its global id (Relay).")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await resolve_node(info.context, id)

    @strawberry.field(description="Fetch many objects by global id; null where none exists.")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > info.context.settings.page_size_max:
            raise BadUserInput(f"at most {info.context.settings.page_size_max} ids at once")
        return [await resolve_node(info.context, global_id) for global_id in ids]

    @strawberry.field
    async def contact(self, info: Info, id: strawberry.ID) -> Contact | None:
        row = await info.context.loaders.contact.load(decode_global_id(id, "Contact"))
        return Contact.from_row(row) if row is not None else None

    @strawberry.field(description="Contacts, a page at a time (Relay cursor connection).")
    def contacts(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: ContactFilterInput | None = None,
        order_by: ContactOrder = ContactOrder.NAME_ASC,
    ) -> Connection[Contact]:
        window = window_from_arguments(info.context.settings, first, after, last, before)
        criteria = (
            ContactFilter(
                search=_search(filter.search),
                created_since=filter.created_since,
                created_before=filter.created_before,
            )
            if filter
            else ContactFilter()
        )
        source: QuerySource[object] = QuerySource(
            info.context.db, contacts_statement(criteria), CONTACT_SORTS[order_by], window
        )
        return Connection(_source=source, _to_node=Contact.from_row)

    @strawberry.field
    async def album(self, info: Info, id: strawberry.ID) -> Album | None:
        row = await info.context.loaders.album.load(decode_global_id(id, "Album"))
        return Album.from_row(row) if row is not None else None

    @strawberry.field(description="Albums, a page at a time (Relay cursor connection).")
    def albums(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: AlbumFilterInput | None = None,
        order_by: AlbumOrder = AlbumOrder.TITLE_ASC,
    ) -> Connection[Album]:
        window = window_from_arguments(info.context.settings, first, after, last, before)
        criteria = (
            AlbumFilter(
                search=_search(filter.search),
                created_since=filter.created_since,
                created_before=filter.created_before,
            )
            if filter
            else AlbumFilter()
        )
        source: QuerySource[object] = QuerySource(
            info.context.db, albums_statement(criteria), ALBUM_SORTS[order_by], window
        )
        return Connection(_source=source, _to_node=Album.from_row)
