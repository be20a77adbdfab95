"""Roles: named sets of scopes. The seeded ``admin`` role always holds every scope."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.scopes import ALL_SCOPES, DEFAULT_ROLES
from app.db.models import Role
from app.db.orderings import sort_keys
from app.db.paging import SortKey
from app.db.transactions import writing
from app.events import record, role_changed
from app.services.errors import FieldError, FieldErrorCode, ValidationFailed
from app.services.records import locked
from app.services.validation import Cleaner

ADMIN_ROLE = "admin"
ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,63}$")


class RoleOrder(StrEnum):
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"


ROLE_SORTS: dict[RoleOrder, SortKey] = sort_keys(RoleOrder, {"NAME": Role.name}, tie_break=Role.id)


def roles_statement() -> Select[Role]:
    return select(Role)


def _clean(changes: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    cleaner = Cleaner()
    cleaned: dict[str, Any] = {}
    if creating or "name" in changes:
        name = cleaner.text(
            "name", changes.get("name"), max_length=64, required=True, multiline=False
        )
        if name is not None and not ROLE_NAME.match(name):
            cleaner.fail(
                "name",
                "must start with a letter and use only a-z, 0-9, - and _ (2-64 characters)",
                FieldErrorCode.INVALID_VALUE,
            )
        cleaned["name"] = name
    if "description" in changes:
        cleaned["description"] = (
            cleaner.text(
                "description",
                changes["description"],
                max_length=1000,
                required=False,
                multiline=True,
            )
            or ""
        )
    if creating or "scopes" in changes:
        scopes = list(dict.fromkeys(changes.get("scopes") or ()))
        unknown = sorted(set(scopes) - ALL_SCOPES)
        if unknown:
            cleaner.fail(
                "scopes", f"unknown scopes: {', '.join(unknown)}", FieldErrorCode.INVALID_VALUE
            )
        cleaned["scopes"] = sorted(scopes)
    if cleaner.errors:
        raise ValidationFailed(cleaner.errors)
    return cleaned


TAKEN = ValidationFailed([FieldError("name", "another role has this name", FieldErrorCode.TAKEN)])


async def _refuse_taken_name(session: AsyncSession, name: str, keep: uuid.UUID | None) -> None:
    existing = await session.scalar(select(Role.id).where(func.lower(Role.name) == name.lower()))
    if existing is not None and existing != keep:
        raise TAKEN


async def create_role(session: AsyncSession, fields: Mapping[str, Any]) -> Role:
    cleaned = _clean(fields, creating=True)
    try:
        async with writing(session):
            await _refuse_taken_name(session, cleaned["name"], None)
            role = Role(**cleaned)
            session.add(role)
            await session.flush()
            record(session, role_changed(role.id))
    except IntegrityError:
        raise TAKEN from None  # a concurrent create won the unique index
    return role


def _refuse_admin_change(role: Role) -> None:
    if role.name == ADMIN_ROLE:
        raise ValidationFailed(
            [FieldError("id", "the admin role cannot be changed", FieldErrorCode.PROTECTED)]
        )


async def update_role(
    session: AsyncSession, role_id: uuid.UUID, changes: Mapping[str, Any]
) -> Role:
    cleaned = _clean(changes, creating=False)
    try:
        async with writing(session):
            role = await locked(session, Role, role_id)
            _refuse_admin_change(role)
            if "name" in cleaned:
                await _refuse_taken_name(session, cleaned["name"], role.id)
            for key, value in cleaned.items():
                setattr(role, key, value)
            record(session, role_changed(role.id))
    except IntegrityError:
        raise TAKEN from None
    return role


async def delete_role(session: AsyncSession, role_id: uuid.UUID) -> None:
    async with writing(session):
        role = await locked(session, Role, role_id)
        _refuse_admin_change(role)
        await session.delete(role)
        record(session, role_changed(role.id))


async def ensure_default_roles(session: AsyncSession) -> None:
    """Create the seeded roles that are missing; give ``admin`` every registered scope.

    Several server processes may start at once: one that loses the race to insert a role
    finds it there on its second pass."""
    for attempt in (1, 2):
        try:
            await _seed(session)
            return
        except IntegrityError:
            if attempt == 2:
                raise


async def _seed(session: AsyncSession) -> None:
    async with writing(session):
        existing = {r.name: r for r in (await session.scalars(select(Role))).all()}
        for name, (description, scopes) in DEFAULT_ROLES.items():
            role = existing.get(name)
            if role is None:
                session.add(Role(name=name, description=description, scopes=sorted(scopes)))
            elif name == ADMIN_ROLE and set(role.scopes) != ALL_SCOPES:
                role.scopes = sorted(ALL_SCOPES)
                record(session, role_changed(role.id))


async def roles_by_names(session: AsyncSession, names: Iterable[str]) -> list[Role]:
    async with session.begin():
        rows = await session.scalars(select(Role).where(Role.name.in_(set(names))))
        return list(rows.all())
