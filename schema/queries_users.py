"""Root fields about people: me, users, roles, scopes."""

from __future__ import annotations

import strawberry

from app.auth.roles import RoleOrder
from app.auth.users import UserOrder
from schema.connection_fields import root_connection_field
from schema.context import Info
from schema.declarations import ROLES, USERS
from schema.ids import decode_global_id
from schema.node_resolver import require_self_or_admin
from schema.types.user import Role, Scope, User, all_scopes

strawberry.enum(UserOrder, name="UserOrder", description="Ties break on the id.")
strawberry.enum(RoleOrder, name="RoleOrder", description="Ties break on the id.")


@strawberry.type
class UserQueries:
    @strawberry.field(description="The signed-in user; null for anonymous callers.")
    async def me(self, info: Info) -> User | None:
        viewer = await info.context.viewer()
        if viewer.user_id is None:
            return None
        row = await info.context.loaders.user.load(viewer.user_id)
        return User.from_row(row) if row is not None else None

    @strawberry.field(description="A user by id: yourself, or anyone with users.admin.")
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        key = decode_global_id(id, "User")
        await require_self_or_admin(info.context, key)
        row = await info.context.loaders.user.load(key)
        return User.from_row(row) if row is not None else None

    users = root_connection_field(
        USERS, User, "user", "Users, a page at a time (needs users.admin)."
    )

    roles = root_connection_field(
        ROLES, Role, "role", "Roles, a page at a time (needs users.admin)."
    )

    @strawberry.field(description="Every permission scope a role can grant.")
    def scopes(self) -> list[Scope]:
        return all_scopes()
