"""Contacts."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from app.auth.scopes import CONTACTS_WRITE
from app.db.models import Contact as ContactRow
from schema.context import Info
from schema.ids import to_global_id
from schema.types.node import Node
from schema.types.stored_file import StoredFile


@strawberry.type(description="A person in the address book.")
class Contact(Node):
    name: str
    email: str | None
    phone: str | None
    notes: str | None
    created_at: datetime
    updated_at: datetime
    row_id: strawberry.Private[uuid.UUID]
    avatar_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The contact's picture, if one was uploaded.")
    async def avatar(self, info: Info) -> StoredFile | None:
        if self.avatar_id is None:
            return None
        row = await info.context.loaders.file.load(self.avatar_id)
        return StoredFile.from_row(row) if row is not None else None

    @strawberry.field(
        description="Whether the viewer may change this contact and its picture (it holds "
        "contacts.write): to show or hide edit controls."
    )
    async def viewer_can_edit(self, info: Info) -> bool:
        return (await info.context.viewer()).can(CONTACTS_WRITE)

    @classmethod
    def from_row(cls, row: ContactRow) -> Contact:
        return cls(
            id=strawberry.ID(to_global_id("Contact", row.id)),
            name=row.name,
            email=row.email,
            phone=row.phone,
            notes=row.notes,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row_id=row.id,
            avatar_id=row.avatar_id,
        )
