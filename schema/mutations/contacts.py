"""createContact, updateContact, deleteContact."""

from __future__ import annotations

import strawberry

from app.services import contacts as service
from app.services.errors import ValidationFailed
from schema.context import Info
from schema.ids import decode_global_id, to_global_id
from schema.mutations.payloads import UserError, provided, user_errors
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
    contact: Contact | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteContactPayload:
    deleted_contact_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ContactMutations:
    @strawberry.mutation
    async def create_contact(self, info: Info, input: CreateContactInput) -> ContactPayload:
        try:
            async with info.context.db.session() as session:
                row = await service.create_contact(session, provided(input, FIELDS))
        except ValidationFailed as failed:
            return ContactPayload(user_errors=user_errors(failed.errors))
        return ContactPayload(contact=Contact.from_row(row))

    @strawberry.mutation
    async def update_contact(self, info: Info, input: UpdateContactInput) -> ContactPayload:
        contact_id = decode_global_id(input.id, "Contact")
        try:
            async with info.context.db.session() as session:
                row = await service.update_contact(session, contact_id, provided(input, FIELDS))
        except ValidationFailed as failed:
            return ContactPayload(user_errors=user_errors(failed.errors))
        return ContactPayload(contact=Contact.from_row(row))

    @strawberry.mutation
    async def delete_contact(self, info: Info, input: DeleteContactInput) -> DeleteContactPayload:
        contact_id = decode_global_id(input.id, "Contact")
        try:
            async with info.context.db.session() as session:
                await service.delete_contact(session, contact_id)
        except ValidationFailed as failed:
            return DeleteContactPayload(user_errors=user_errors(failed.errors))
        return DeleteContactPayload(
            deleted_contact_id=strawberry.ID(to_global_id("Contact", contact_id))
        )
