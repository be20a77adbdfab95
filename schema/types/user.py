"""Users and roles as administrators (and each user, for themself) see them."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from app.auth.scopes import SCOPES
from app.db.models import Role as RoleRow
from app.db.models import User as UserRow
from schema.context import Info
from schema.ids import to_global_id
from schema.types.node import Node
from schema.types.stored_file import StoredFile


@strawberry.type(description="A permission scope: what a role lets its holders do.")
class Scope:
    name: str
    description: str


def all_scopes() -> list[Scope]:
    return [Scope(name=name, description=text) for name, text in SCOPES.items()]


@strawberry.type(description="A named set of permission scopes.")
class Role(Node):
    name: str
    description: str
    scopes: list[str]
    created_at: datetime
    updated_at: datetime
    row_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: RoleRow) -> Role:
        return cls(
            id=strawberry.ID(to_global_id("Role", row.id)),
            name=row.name,
            description=row.description,
            scopes=list(row.scopes),
            created_at=row.created_at,
            updated_at=row.updated_at,
            row_id=row.id,
        )


@strawberry.type(description="Someone who can sign in.")
class User(Node):
    username: str
    email: str | None
    display_name: str
    is_locked: bool
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime
    row_id: strawberry.Private[uuid.UUID]
    avatar_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="The user's picture, if one was uploaded.")
    async def avatar(self, info: Info) -> StoredFile | None:
        if self.avatar_id is None:
            return None
        row = await info.context.loaders.file.load(self.avatar_id)
        return StoredFile.from_row(row) if row is not None else None

    @strawberry.field(description="The user's roles, by name.")
    async def roles(self, info: Info) -> list[Role]:
        rows = await info.context.loaders.roles_of_user.load(self.row_id)
        return [Role.from_row(row) for row in rows]

    @strawberry.field(description="The union of the scopes of the user's roles.")
    async def scopes(self, info: Info) -> list[str]:
        return sorted({scope for role in await self.roles(info) for scope in role.scopes})

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        return cls(
            id=strawberry.ID(to_global_id("User", row.id)),
            username=row.username,
            email=row.email,
            display_name=row.display_name,
            is_locked=row.is_locked,
            last_login_at=row.last_login_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row_id=row.id,
            avatar_id=row.avatar_id,
        )
