"""Root fields about people: me, users, roles, scopes."""

from __future__ import annotations

import strawberry

from app.auth.roles import RoleOrder
from app.auth.users import UserOrder
from schema.context import Info
from schema.declarations import ROLES, USERS
from schema.filters import UserFilterInput
from schema.ids import decode_global_id
from schema.node_resolver import require_self_or_admin
from schema.pagination import Connection, root_connection
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

    @strawberry.field(description="Users, a page at a time (needs users.admin).")
    async def users(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: UserFilterInput | None = None,
        order_by: UserOrder = USERS.listing.default_order,
    ) -> Connection[User]:
        return await root_connection(
            info,
            USERS,
            filter=filter,
            order_by=order_by,
            window=(first, after, last, before),
            loader=info.context.loaders.user,
            to_node=User.from_row,
        )

    @strawberry.field(description="Roles, a page at a time (needs users.admin).")
    async def roles(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: RoleOrder = ROLES.listing.default_order,
    ) -> Connection[Role]:
        return await root_connection(
            info,
            ROLES,
            filter=None,
            order_by=order_by,
            window=(first, after, last, before),
            loader=info.context.loaders.role,
            to_node=Role.from_row,
        )

    @strawberry.field(description="Every permission scope a role can grant.")
    def scopes(self) -> list[Scope]:
        return all_scopes()
