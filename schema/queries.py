"""The root Query type."""

from __future__ import annotations

import asyncio

import strawberry

from app.services.albums import AlbumOrder
from app.services.contacts import ContactOrder
from schema.connection_fields import root_connection_field
from schema.context import Info
from schema.declarations import ALBUM, ALBUMS, CONTACT, CONTACTS
from schema.errors import BadUserInput
from schema.ids import decode_global_id
from schema.node_resolver import resolve_node
from schema.permissions import require_scope
from schema.types.album import Album
from schema.types.contact import Contact
from schema.types.node import Node

strawberry.enum(ContactOrder, name="ContactOrder", description="Ties break on the id.")
strawberry.enum(AlbumOrder, name="AlbumOrder", description="Ties break on the id.")


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
        await require_scope(info.context, CONTACT.scope)
        row = await info.context.loaders.contact.load(decode_global_id(id, CONTACT.target))
        return Contact.from_row(row) if row is not None else None

    contacts = root_connection_field(
        CONTACTS, Contact, "contact", "Contacts, a page at a time (Relay cursor connection)."
    )

    @strawberry.field
    async def album(self, info: Info, id: strawberry.ID) -> Album | None:
        await require_scope(info.context, ALBUM.scope)
        row = await info.context.loaders.album.load(decode_global_id(id, ALBUM.target))
        return Album.from_row(row) if row is not None else None

    albums = root_connection_field(
        ALBUMS, Album, "album", "Albums, a page at a time (Relay cursor connection)."
    )
