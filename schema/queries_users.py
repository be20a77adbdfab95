"""Root fields about people: me, users, roles, scopes."""

from __future__ import annotations

import strawberry

from app.auth.roles import ROLE_SORTS, RoleOrder, roles_statement
from app.auth.scopes import USERS_ADMIN
from app.auth.users import USER_SORTS, UserOrder, users_statement
from schema.context import Info
from schema.ids import decode_global_id
from schema.node_resolver import require_self_or_admin
from schema.pagination import Connection, list_connection, window_from_arguments
from schema.permissions import require_scope
from schema.queries import ListFilterInput, to_list_filter
from schema.types.user import Role, Scope, User, all_scopes

strawberry.enum(UserOrder, name="UserOrder", description="Ties break on the id.")
strawberry.enum(RoleOrder, name="RoleOrder", description="Ties break on the id.")


@strawberry.input(description="Narrow the user list. All given conditions must hold.")
class UserFilterInput(ListFilterInput):
    search: str | None = strawberry.field(
        default=None,
        description="Case-insensitive substring of the username, email or display name.",
    )


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
        order_by: UserOrder = UserOrder.USERNAME_ASC,
    ) -> Connection[User]:
        await require_scope(info.context, USERS_ADMIN)
        return list_connection(
            info.context,
            users_statement(to_list_filter(filter)),
            USER_SORTS[order_by],
            window_from_arguments(info.context.settings, first, after, last, before),
            info.context.loaders.user,
            User.from_row,
        )

    @strawberry.field(description="Roles, a page at a time (needs users.admin).")
    async def roles(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: RoleOrder = RoleOrder.NAME_ASC,
    ) -> Connection[Role]:
        await require_scope(info.context, USERS_ADMIN)
        return list_connection(
            info.context,
            roles_statement(),
            ROLE_SORTS[order_by],
            window_from_arguments(info.context.settings, first, after, last, before),
            info.context.loaders.role,
            Role.from_row,
        )

    @strawberry.field(description="Every permission scope a role can grant.")
    def scopes(self) -> list[Scope]:
        return all_scopes()
