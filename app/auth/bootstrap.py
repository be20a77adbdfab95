"""First run: seeded roles, and an administrator when there is nobody yet."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from app.auth.passwords import Passwords
from app.auth.roles import ADMIN_ROLE, ensure_default_roles, roles_by_names
from app.auth.users import create_user, user_count
from app.db.database import Database
from app.db.models import User


@dataclass(frozen=True, slots=True)
class CreatedAdmin:
    user: User
    password: str


def generate_password() -> str:
    return secrets.token_urlsafe(18)


async def create_admin(
    db: Database, passwords: Passwords, username: str, password: str, *, admin: bool = True
) -> User:
    async with db.session() as session:
        await ensure_default_roles(session)
        roles = await roles_by_names(session, [ADMIN_ROLE] if admin else [])
        return await create_user(
            session, passwords, {"username": username, "password": password}, [r.id for r in roles]
        )


async def bootstrap(
    db: Database, passwords: Passwords, *, first_admin: bool
) -> CreatedAdmin | None:
    """Seed roles; with ``first_admin``, create ``admin`` when no user exists yet."""
    async with db.session() as session:
        await ensure_default_roles(session)
        if not first_admin or await user_count(session) > 0:
            return None
    password = generate_password()
    user = await create_admin(db, passwords, "admin", password)
    return CreatedAdmin(user, password)
