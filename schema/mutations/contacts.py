"""createContact, updateContact, deleteContact."""

from __future__ import annotations

import strawberry

from app.auth.scopes import CONTACTS_WRITE
from app.services import attachments
from app.services import contacts as service
from schema.context import Info
from schema.ids import decode_global_id, to_global_id
from schema.mutations.payloads import UserError, call_service, provided
from schema.permissions import require_scope
from schema.types.contact import Contact

FIELDS = ("name", "email", "phone", "notes")


@strawberry.input
class CreateContactInput:
    name: str
    email: str | None = None
    phone: str | None = None
    notes: str | None = None


@strawberry.input(description="Only the fields given change; null clears an optional field.")
class UpdateContactInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    notes: str | None = strawberry.UNSET


@strawberry.input
class DeleteContactInput:
    id: strawberry.ID


@strawberry.type
class ContactPayload:
    contact: Contact | None
    user_errors: list[UserError]


@strawberry.type
class DeleteContactPayload:
    deleted_contact_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.type
class ContactMutations:
    @strawberry.mutation
    async def create_contact(self, info: Info, input: CreateContactInput) -> ContactPayload:
        await require_scope(info.context, CONTACTS_WRITE)
        fields = provided(input, FIELDS)
        row, errors = await call_service(info, lambda s: service.create_contact(s, fields))
        return ContactPayload(contact=Contact.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def update_contact(self, info: Info, input: UpdateContactInput) -> ContactPayload:
        await require_scope(info.context, CONTACTS_WRITE)
        key, changes = decode_global_id(input.id, "Contact"), provided(input, FIELDS)
        row, errors = await call_service(info, lambda s: service.update_contact(s, key, changes))
        return ContactPayload(contact=Contact.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def delete_contact(self, info: Info, input: DeleteContactInput) -> DeleteContactPayload:
        await require_scope(info.context, CONTACTS_WRITE)
        key = decode_global_id(input.id, "Contact")
        files = info.context.files
        _, errors = await call_service(info, lambda s: attachments.delete_contact(s, files, key))
        deleted = None if errors else strawberry.ID(to_global_id("Contact", key))
        return DeleteContactPayload(deleted_contact_id=deleted, user_errors=errors)
