"""How every HTTP route answers an error: one table of statuses, one envelope.

The envelope is GraphQL over HTTP's, on every route - /graphql, its event streams, /files, a
path nobody serves - so a client reads one shape everywhere::

    {"errors": [{"message": "...", "extensions": {"code": "NOT_FOUND", ...}}]}

HTTP_STATUS is the one place a code gets its HTTP status. Codes it does not list only ever
travel inside a GraphQL result (200 next to ``data``) or a stream's event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.error_codes import ErrorCode
from app.observability.context import current_request_id

#: The status a request refused with each code answers. Where several codes share a status, the
#: first listed is the one a bare status gets (an HTTPException raised by Strawberry, Starlette
#: or a parser of ours says only its status).
HTTP_STATUS: Mapping[str, int] = MappingProxyType(
    {
        ErrorCode.BAD_REQUEST: 400,
        ErrorCode.GRAPHQL_PARSE_FAILED: 400,
        ErrorCode.GRAPHQL_VALIDATION_FAILED: 400,
        ErrorCode.BAD_USER_INPUT: 400,  # variables that do not fit: refused before execution
        ErrorCode.QUERY_TOO_COMPLEX: 400,  # a document past a limit: refused while validating
        ErrorCode.UNAUTHENTICATED: 401,
        ErrorCode.FORBIDDEN: 403,
        ErrorCode.NOT_FOUND: 404,
        ErrorCode.METHOD_NOT_ALLOWED: 405,
        ErrorCode.NOT_ACCEPTABLE: 406,
        ErrorCode.CONFLICT: 409,
        ErrorCode.PAYLOAD_TOO_LARGE: 413,
        ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
        ErrorCode.RANGE_NOT_SATISFIABLE: 416,
        ErrorCode.TOO_MANY_SUBSCRIPTIONS: 429,
        ErrorCode.INTERNAL_SERVER_ERROR: 500,
        ErrorCode.SERVICE_UNAVAILABLE: 503,
        ErrorCode.INSUFFICIENT_STORAGE: 507,
    }
)

_CODE_FOR_STATUS: dict[int, ErrorCode] = {}
for _code, _status in HTTP_STATUS.items():
    _CODE_FOR_STATUS.setdefault(_status, ErrorCode(_code))


def code_for_status(status: int) -> ErrorCode:
    """The code of a refusal known only by its status."""
    found = _CODE_FOR_STATUS.get(status)
    if found is not None:
        return found
    return ErrorCode.INTERNAL_SERVER_ERROR if status >= 500 else ErrorCode.BAD_REQUEST


def status_for(codes: Iterable[str | None]) -> int:
    """The status of a response refusing a request with errors of these codes: the highest the
    table gives them (a bug's 500 over the client's 400); 400 for codes it does not list."""
    return max((HTTP_STATUS.get(code or "", 400) for code in codes), default=400)


def error_object(code: ErrorCode, message: str, **extensions: Any) -> dict[str, Any]:
    """One entry of the envelope's ``errors``, as GraphQL writes an error."""
    return {"message": message, "extensions": {"code": code.value, **extensions}}


def errors_response(
    errors: Sequence[Mapping[str, Any]],
    *,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The envelope around these errors, with the status the table gives their codes."""
    if status is None:
        status = status_for(error.get("extensions", {}).get("code") for error in errors)
    return JSONResponse({"errors": list(errors)}, status_code=status, headers=headers)


def error_response(
    code: ErrorCode, message: str, *, headers: Mapping[str, str] | None = None, **extensions: Any
) -> JSONResponse:
    return errors_response([error_object(code, message, **extensions)], headers=headers)


def status_response(
    status: int, message: str, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A refusal known only by its status (an HTTPException), with the code the table gives it."""
    body = [error_object(code_for_status(status), message)]
    return errors_response(body, status=status, headers=headers)


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals - no such route (404), a method the route does not take (405),
    a missing static asset - in the envelope rather than Starlette's plain text."""
    assert isinstance(exc, HTTPException)
    if exc.status_code in {204, 304}:
        return Response(status_code=exc.status_code, headers=exc.headers)
    return status_response(exc.status_code, exc.detail, headers=exc.headers)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """The answer to an error nobody expected, on any route: never a traceback.

    Starlette's own last resort is a plain-text 500. The details go to the log (Starlette
    re-raises, and app.http.request_log logs the traceback under the request's id - the
    ``requestId`` given here)."""
    request_id = current_request_id()
    if request_id is None:
        return error_response(ErrorCode.INTERNAL_SERVER_ERROR, "Internal server error")
    return error_response(
        ErrorCode.INTERNAL_SERVER_ERROR, "Internal server error", requestId=request_id
    )
