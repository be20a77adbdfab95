"""Contacts: create, change, delete, and the filtered, ordered listing."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from enum import StrEnum

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import EMAIL_MAX, NAME_MAX, NOTES_MAX, PHONE_MAX, Contact
from app.db.orderings import sort_keys
from app.db.paging import SortKey
from app.events import contact_topic
from app.services.errors import ValidationFailed
from app.services.records import create_record, update_record
from app.services.search import ListFilter, created_between, text_search
from app.services.validation import Cleaner


class ContactOrder(StrEnum):
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
    CREATED_AT_ASC = "CREATED_AT_ASC"
    CREATED_AT_DESC = "CREATED_AT_DESC"


CONTACT_SORTS: dict[ContactOrder, SortKey] = sort_keys(
    ContactOrder, {"NAME": Contact.name, "CREATED_AT": Contact.created_at}, tie_break=Contact.id
)


def contacts_statement(criteria: ListFilter) -> Select[Contact]:
    statement = select(Contact)
    if criteria.search is not None:
        statement = statement.where(text_search(criteria.search, Contact.name, Contact.email))
    return statement.where(
        *created_between(Contact.created_at, criteria.created_since, criteria.created_before)
    )


_EDITABLE = ("name", "email", "phone", "notes")


def _clean(changes: Mapping[str, str | None], *, creating: bool) -> dict[str, str | None]:
    cleaner = Cleaner()
    cleaned: dict[str, str | None] = {}
    if creating or "name" in changes:
        cleaned["name"] = cleaner.text(
            "name", changes.get("name"), max_length=NAME_MAX, required=True, multiline=False
        )
    if "email" in changes:
        cleaned["email"] = cleaner.email("email", changes["email"], max_length=EMAIL_MAX)
    if "phone" in changes:
        cleaned["phone"] = cleaner.phone("phone", changes["phone"], max_length=PHONE_MAX)
    if "notes" in changes:
        cleaned["notes"] = cleaner.text(
            "notes", changes["notes"], max_length=NOTES_MAX, required=False, multiline=True
        )
    if cleaner.errors:
        raise ValidationFailed(cleaner.errors)
    return cleaned


async def create_contact(session: AsyncSession, fields: Mapping[str, str | None]) -> Contact:
    cleaned = _clean({k: v for k, v in fields.items() if k in _EDITABLE}, creating=True)
    return await create_record(session, Contact, cleaned, contact_topic)


async def update_contact(
    session: AsyncSession, contact_id: uuid.UUID, changes: Mapping[str, str | None]
) -> Contact:
    """Change only the fields present in ``changes``; a None clears an optional field."""
    cleaned = _clean({k: v for k, v in changes.items() if k in _EDITABLE}, creating=False)
    return await update_record(session, Contact, contact_id, cleaned, contact_topic)
