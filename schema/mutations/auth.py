"""login, logout, logoutEverywhere."""

from __future__ import annotations

from datetime import datetime

import strawberry
from starlette.responses import Response

from app.auth.authenticator import LoginRefused
from app.services.errors import FieldErrorCode
from schema.context import Info
from schema.errors import ClientError, ErrorCode
from schema.mutations.payloads import UserError
from schema.permissions import require_viewer
from schema.types.user import User


class RateLimited(ClientError):
    code = ErrorCode.RATE_LIMITED


@strawberry.input
class LoginInput:
    username: str
    password: str


@strawberry.type
class LoginPayload:
    token: str | None = strawberry.field(
        description="Send as `Authorization: Bearer <token>`, or as `token` in a websocket's "
        "connection_init payload. Shown once."
    )
    expires_at: datetime | None = strawberry.field(
        description="When the session ends if unused; each use extends it."
    )
    user: User | None
    user_errors: list[UserError]


@strawberry.type
class LogoutPayload:
    revoked_sessions: int


@strawberry.type
class AuthMutations:
    @strawberry.mutation(description="Exchange a username and password for a session token.")
    async def login(self, info: Info, input: LoginInput) -> LoginPayload:
        context = info.context
        try:
            result = await context.auth.login(
                input.username, input.password, context.client_address
            )
        except LoginRefused as refused:
            if refused.retry_after is not None:
                if isinstance(context.response, Response):
                    context.response.headers["Retry-After"] = str(refused.retry_after)
                raise RateLimited(str(refused), retryAfter=refused.retry_after) from None
            error = UserError(field=None, message=str(refused), code=FieldErrorCode(refused.code))
            return LoginPayload(token=None, expires_at=None, user=None, user_errors=[error])
        context.loaders.user.prime(result.user.id, result.user)
        return LoginPayload(
            token=result.token,
            expires_at=result.expires_at,
            user=User.from_row(result.user),
            user_errors=[],
        )

    @strawberry.mutation(description="End the session whose token this request carries.")
    async def logout(self, info: Info) -> LogoutPayload:
        await require_viewer(info.context)
        token = info.context.token()
        revoked = await info.context.auth.logout(token) if token else False
        return LogoutPayload(revoked_sessions=int(revoked))

    @strawberry.mutation(description="End every session of the signed-in user, everywhere.")
    async def logout_everywhere(self, info: Info) -> LogoutPayload:
        viewer = await require_viewer(info.context)
        assert viewer.user_id is not None
        return LogoutPayload(
            revoked_sessions=await info.context.auth.logout_everywhere(viewer.user_id)
        )
