"""What every mutation payload shares: field-level errors the user can correct."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.errors import FieldError, FieldErrorCode, ValidationFailed
from schema.context import Info

UserErrorCode = strawberry.enum(
    FieldErrorCode, name="UserErrorCode", description="Why a field's value was refused."
)


@strawberry.type(description="A problem with one input field; nothing was written.")
class UserError:
    field: str | None = strawberry.field(description="The input field at fault, if any.")
    message: str
    code: UserErrorCode  # type: ignore[valid-type]


def user_errors(errors: Iterable[FieldError]) -> list[UserError]:
    return [UserError(field=e.field, message=e.message, code=e.code) for e in errors]


def provided(input_object: Any, names: Iterable[str]) -> dict[str, Any]:
    """The fields the client actually sent (absent stays absent; null means clear)."""
    return {
        name: getattr(input_object, name)
        for name in names
        if getattr(input_object, name) is not strawberry.UNSET
    }


T = TypeVar("T")


async def call_service(
    info: Info, use_case: Callable[[AsyncSession], Awaitable[T]]
) -> tuple[T | None, list[UserError]]:
    """Run a use case in its own session; a validation failure becomes ``userErrors``."""
    try:
        async with info.context.db.session() as session:
            return await use_case(session), []
    except ValidationFailed as failed:
        return None, user_errors(failed.errors)
