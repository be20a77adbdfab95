"""Users: accounts, their roles, locking, and the grants a session derives from them."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.passwords import Passwords, password_problems
from app.db.models import EMAIL_MAX, NAME_MAX, USERNAME_MAX, LoginSession, Role, User, user_roles
from app.db.orderings import sort_keys
from app.db.paging import SortKey
from app.db.transactions import writing
from app.events import record, user_changed
from app.services.errors import FieldError, FieldErrorCode, NotFound, ValidationFailed
from app.services.records import locked
from app.services.search import ListFilter, created_between, text_search
from app.services.validation import Cleaner

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{2,149}$")


class UserOrder(StrEnum):
    USERNAME_ASC = "USERNAME_ASC"
    USERNAME_DESC = "USERNAME_DESC"
    CREATED_AT_ASC = "CREATED_AT_ASC"
    CREATED_AT_DESC = "CREATED_AT_DESC"


USER_SORTS: dict[UserOrder, SortKey] = sort_keys(
    UserOrder, {"USERNAME": User.username, "CREATED_AT": User.created_at}, tie_break=User.id
)


def users_statement(criteria: ListFilter) -> Select[User]:
    statement = select(User)
    if criteria.search is not None:
        statement = statement.where(
            text_search(criteria.search, User.username, User.email, User.display_name)
        )
    return statement.where(
        *created_between(User.created_at, criteria.created_since, criteria.created_before)
    )


@dataclass(frozen=True, slots=True)
class Grants:
    """What a user may do right now: read with the session (app.auth.sessions), kept for at
    most VIEWER_CACHE_SECONDS."""

    user_id: uuid.UUID
    username: str
    is_locked: bool
    scopes: frozenset[str]


def _clean(changes: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    cleaner = Cleaner()
    cleaned: dict[str, Any] = {}
    if creating:
        username = cleaner.text(
            "username",
            changes.get("username"),
            max_length=USERNAME_MAX,
            required=True,
            multiline=False,
        )
        if username is not None and not USERNAME.match(username):
            cleaner.fail(
                "username",
                "must be 3-150 characters: letters, digits and _ . @ + - "
                "(starting with a letter or digit)",
                FieldErrorCode.INVALID_VALUE,
            )
        cleaned["username"] = username
    if "email" in changes:
        cleaned["email"] = cleaner.email("email", changes["email"], max_length=EMAIL_MAX)
    if "display_name" in changes:
        cleaned["display_name"] = (
            cleaner.text(
                "displayName",
                changes["display_name"],
                max_length=NAME_MAX,
                required=False,
                multiline=False,
            )
            or ""
        )
    if "password" in changes:
        problems = password_problems(
            changes["password"] or "", username=str(changes.get("username") or "")
        )
        for problem in problems:
            cleaner.fail("password", problem, FieldErrorCode.WEAK_PASSWORD)
    if cleaner.errors:
        raise ValidationFailed(cleaner.errors)
    return cleaned


async def _roles(session: AsyncSession, role_ids: Sequence[uuid.UUID]) -> list[Role]:
    roles = list((await session.scalars(select(Role).where(Role.id.in_(set(role_ids))))).all())
    if len(roles) != len(set(role_ids)):
        raise NotFound("roleIds", "one of the roles")
    return roles


async def _set_roles(session: AsyncSession, user_id: uuid.UUID, roles: list[Role]) -> None:
    await session.execute(delete(user_roles).where(user_roles.c.user_id == user_id))
    if roles:
        await session.execute(
            insert(user_roles), [{"user_id": user_id, "role_id": r.id} for r in roles]
        )


async def create_user(
    session: AsyncSession,
    passwords: Passwords,
    fields: Mapping[str, Any],
    role_ids: Sequence[uuid.UUID] = (),
) -> User:
    cleaned = _clean({**fields, "password": fields.get("password")}, creating=True)
    password_hash = await asyncio.to_thread(passwords.hash, fields["password"])
    taken = ValidationFailed([FieldError("username", "is already taken", FieldErrorCode.TAKEN)])
    try:
        async with writing(session):
            existing = await session.scalar(
                select(User.id).where(func.lower(User.username) == cleaned["username"].lower())
            )
            if existing is not None:
                raise taken
            roles = await _roles(session, role_ids)
            user = User(**cleaned, password_hash=password_hash)
            session.add(user)
            await session.flush()
            await _set_roles(session, user.id, roles)
    except IntegrityError:
        raise taken from None  # a concurrent create won the unique index
    return user


async def update_user(
    session: AsyncSession, user_id: uuid.UUID, changes: Mapping[str, Any]
) -> User:
    cleaned = _clean(changes, creating=False)
    async with writing(session):
        user = await locked(session, User, user_id)
        for key, value in cleaned.items():
            setattr(user, key, value)
        record(session, user_changed(user.id))
    return user


async def set_password(
    session: AsyncSession, passwords: Passwords, user_id: uuid.UUID, password: str
) -> User:
    async with session.begin():
        username = await session.scalar(select(User.username).where(User.id == user_id))
    if username is None:
        raise NotFound("id", "the user")
    _clean({"password": password, "username": username}, creating=False)
    password_hash = await asyncio.to_thread(passwords.hash, password)
    async with writing(session):
        user = await locked(session, User, user_id)
        user.password_hash = password_hash
        await _end_sessions(session, user.id)
        record(session, user_changed(user.id))
    return user


async def set_locked(session: AsyncSession, user_id: uuid.UUID, is_locked: bool) -> User:
    async with writing(session):
        user = await locked(session, User, user_id)
        user.is_locked = is_locked
        if is_locked:
            await _end_sessions(session, user.id)
        record(session, user_changed(user.id))
    return user


async def _end_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    """In the same transaction as the change that ends them: a new password or a lock
    commits together with the logout, or not at all."""
    await session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))


async def assign_roles(
    session: AsyncSession, user_id: uuid.UUID, role_ids: Sequence[uuid.UUID]
) -> User:
    """Replace the user's roles with exactly these."""
    async with writing(session):
        user = await locked(session, User, user_id)
        await _set_roles(session, user.id, await _roles(session, role_ids))
        record(session, user_changed(user.id))
    return user


async def user_count(session: AsyncSession) -> int:
    async with session.begin():
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)
