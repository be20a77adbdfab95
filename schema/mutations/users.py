"""Administering users (users.admin): create, update, lock, set password, assign roles."""

from __future__ import annotations

import strawberry

from app.auth import users as service
from app.auth.authenticator import LoginRefused
from app.auth.scopes import USERS_ADMIN
from app.services.errors import FieldErrorCode
from schema.context import Info
from schema.ids import decode_global_id
from schema.mutations.auth import RateLimited
from schema.mutations.payloads import UserError, call_service, provided
from schema.permissions import require_scope, require_viewer
from schema.types.user import User


@strawberry.input
class CreateUserInput:
    username: str
    password: str
    email: str | None = None
    display_name: str | None = None
    role_ids: list[strawberry.ID] = strawberry.field(default_factory=list)


@strawberry.input(description="Only the fields given change; null clears the email.")
class UpdateUserInput:
    id: strawberry.ID
    email: str | None = strawberry.UNSET
    display_name: str | None = strawberry.UNSET


@strawberry.input
class SetUserLockedInput:
    id: strawberry.ID
    locked: bool


@strawberry.input
class SetUserPasswordInput:
    id: strawberry.ID
    password: str


@strawberry.input(description="The user's roles become exactly these.")
class AssignRolesInput:
    user_id: strawberry.ID
    role_ids: list[strawberry.ID]


@strawberry.input
class ChangeMyPasswordInput:
    current_password: str
    new_password: str


@strawberry.type
class ChangePasswordPayload:
    token: str | None = strawberry.field(description="The new session token.")
    user: User | None
    user_errors: list[UserError]


@strawberry.type
class UserPayload:
    user: User | None
    user_errors: list[UserError]


def _payload(row: object, errors: list[UserError]) -> UserPayload:
    return UserPayload(user=User.from_row(row) if row else None, user_errors=errors)  # type: ignore[arg-type]


@strawberry.type
class UserMutations:
    @strawberry.mutation
    async def create_user(self, info: Info, input: CreateUserInput) -> UserPayload:
        await require_scope(info.context, USERS_ADMIN)
        role_ids = [decode_global_id(i, "Role") for i in input.role_ids]
        fields = provided(input, ("username", "password", "email", "display_name"))
        fields = {k: v for k, v in fields.items() if v is not None or k == "email"}
        passwords = info.context.auth.passwords
        row, errors = await call_service(
            info, lambda s: service.create_user(s, passwords, fields, role_ids)
        )
        return _payload(row, errors)

    @strawberry.mutation
    async def update_user(self, info: Info, input: UpdateUserInput) -> UserPayload:
        await require_scope(info.context, USERS_ADMIN)
        key, changes = (
            decode_global_id(input.id, "User"),
            provided(input, ("email", "display_name")),
        )
        row, errors = await call_service(info, lambda s: service.update_user(s, key, changes))
        return _payload(row, errors)

    @strawberry.mutation(description="Locked users cannot log in, and their sessions end.")
    async def set_user_locked(self, info: Info, input: SetUserLockedInput) -> UserPayload:
        await require_scope(info.context, USERS_ADMIN)
        key = decode_global_id(input.id, "User")
        # Locking ends the user's sessions in the same transaction (app.auth.users).
        row, errors = await call_service(info, lambda s: service.set_locked(s, key, input.locked))
        return _payload(row, errors)

    @strawberry.mutation(description="Set a user's password; their sessions all end.")
    async def set_user_password(self, info: Info, input: SetUserPasswordInput) -> UserPayload:
        await require_scope(info.context, USERS_ADMIN)
        key, passwords = decode_global_id(input.id, "User"), info.context.auth.passwords
        # The new password ends the user's sessions in the same transaction.
        row, errors = await call_service(
            info, lambda s: service.set_password(s, passwords, key, input.password)
        )
        return _payload(row, errors)

    @strawberry.mutation(
        description="Change your own password. Every session ends; a new token is returned."
    )
    async def change_my_password(
        self, info: Info, input: ChangeMyPasswordInput
    ) -> ChangePasswordPayload:
        viewer = await require_viewer(info.context)
        assert viewer.user_id is not None
        auth, key = info.context.auth, viewer.user_id
        try:
            changed, errors = await call_service(
                info,
                lambda s: auth.change_password(s, key, input.current_password, input.new_password),
            )
        except LoginRefused as refused:
            if refused.retry_after is not None:
                raise RateLimited(str(refused), retryAfter=refused.retry_after) from None
            error = UserError(
                field="currentPassword", message=str(refused), code=FieldErrorCode(refused.code)
            )
            return ChangePasswordPayload(token=None, user=None, user_errors=[error])
        if changed is None:
            return ChangePasswordPayload(token=None, user=None, user_errors=errors)
        token, row = changed
        return ChangePasswordPayload(token=token, user=User.from_row(row), user_errors=[])

    @strawberry.mutation
    async def assign_roles(self, info: Info, input: AssignRolesInput) -> UserPayload:
        await require_scope(info.context, USERS_ADMIN)
        key = decode_global_id(input.user_id, "User")
        role_ids = [decode_global_id(i, "Role") for i in input.role_ids]
        row, errors = await call_service(info, lambda s: service.assign_roles(s, key, role_ids))
        return _payload(row, errors)
