"""Administering roles (users.admin): create, update, delete."""

from __future__ import annotations

import strawberry

from app.auth import roles as service
from app.auth.scopes import USERS_ADMIN
from schema.context import Info
from schema.ids import decode_global_id, to_global_id
from schema.mutations.payloads import UserError, call_service, provided
from schema.permissions import require_scope
from schema.types.user import Role

FIELDS = ("name", "description", "scopes")


@strawberry.input
class CreateRoleInput:
    name: str
    description: str | None = None
    scopes: list[str] = strawberry.field(default_factory=list)


@strawberry.input(description="Only the fields given change; scopes are replaced as a whole.")
class UpdateRoleInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    scopes: list[str] | None = strawberry.UNSET


@strawberry.input
class DeleteRoleInput:
    id: strawberry.ID


@strawberry.type
class RolePayload:
    role: Role | None
    user_errors: list[UserError]


@strawberry.type
class DeleteRolePayload:
    deleted_role_id: strawberry.ID | None
    user_errors: list[UserError]


@strawberry.type
class RoleMutations:
    @strawberry.mutation
    async def create_role(self, info: Info, input: CreateRoleInput) -> RolePayload:
        await require_scope(info.context, USERS_ADMIN)
        fields = provided(input, FIELDS)
        row, errors = await call_service(info, lambda s: service.create_role(s, fields))
        return RolePayload(role=Role.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def update_role(self, info: Info, input: UpdateRoleInput) -> RolePayload:
        await require_scope(info.context, USERS_ADMIN)
        key, changes = decode_global_id(input.id, "Role"), provided(input, FIELDS)
        row, errors = await call_service(info, lambda s: service.update_role(s, key, changes))
        return RolePayload(role=Role.from_row(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def delete_role(self, info: Info, input: DeleteRoleInput) -> DeleteRolePayload:
        await require_scope(info.context, USERS_ADMIN)
        key = decode_global_id(input.id, "Role")
        _, errors = await call_service(info, lambda s: service.delete_role(s, key))
        deleted = None if errors else strawberry.ID(to_global_id("Role", key))
        return DeleteRolePayload(deleted_role_id=deleted, user_errors=errors)
