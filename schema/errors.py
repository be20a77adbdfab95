"""GraphQL errors with a stable ``extensions.code``, and the extension that assigns the codes.

Clients switch on the code, never on the message. The codes live in app.error_codes, below this
layer, because the HTTP routes refuse requests with the same ones. Unexpected exceptions are
logged with their traceback and reach the client only as INTERNAL_SERVER_ERROR - never a stack
trace or a SQL fragment - with ``extensions.requestId``, the request id its log line carries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from app.error_codes import ErrorCode as ErrorCode  # the codes live below the GraphQL face
from app.failures import is_unavailable
from app.observability.context import current_request_id

logger = logging.getLogger("contentgraph.graphql")

_REQUEST_MISTAKES = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)


class ClientError(Exception):
    """An error the client caused and can fix; its message is safe to show."""

    code: ErrorCode = ErrorCode.BAD_USER_INPUT

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.extensions: dict[str, Any] = {"code": self.code.value, **extensions}


class BadUserInput(ClientError):
    code = ErrorCode.BAD_USER_INPUT


class Unauthenticated(ClientError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(ClientError):
    code = ErrorCode.FORBIDDEN


def error_code(error: GraphQLError) -> str | None:
    code = (error.extensions or {}).get("code")
    return str(code) if code is not None else None


def _tag(errors: list[GraphQLError] | None, code: ErrorCode) -> None:
    for error in errors or ():
        if error_code(error) is None:
            error.extensions = {**(error.extensions or {}), "code": code.value}


class ErrorCodes(SchemaExtension):
    """Give every error a code according to the phase that produced it; mask the unexpected."""

    def on_parse(self) -> Iterator[None]:
        # A syntax error raised inside ParserCache's own hook never comes back through here
        # (Strawberry turns it into a result directly): app.http.graphql codes those.
        yield
        _tag(self.execution_context.pre_execution_errors, ErrorCode.GRAPHQL_PARSE_FAILED)

    def on_validate(self) -> Iterator[None]:
        yield
        _tag(self.execution_context.pre_execution_errors, ErrorCode.GRAPHQL_VALIDATION_FAILED)

    def on_execute(self) -> Iterator[None]:
        yield
        classify(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Every result of a stream - each subscription event - is classified and masked
        like an HTTP response, not only the first."""
        classify(result)
        yield


def classify(result: Any) -> None:
    errors = getattr(result, "errors", None)
    if result is not None and errors:
        result.errors = [_classified(error) for error in errors]


def _classified(error: GraphQLError) -> GraphQLError:
    if error_code(error) is not None:
        return error  # already classified (a stream's results pass here twice)
    original = error.original_error
    if original is None or isinstance(original, ClientError | GraphQLError):
        # graphql-core's own errors at execution time (variable coercion and friends), and
        # the errors we raise for the client.
        _tag([error], ErrorCode.BAD_USER_INPUT)
        return error
    if isinstance(original, _REQUEST_MISTAKES):
        # No operation by that name, or a query sent where only subscriptions are served.
        _tag([error], ErrorCode.BAD_REQUEST)
        return error
    where = ".".join(map(str, error.path or ())) or "the operation"
    if is_unavailable(original):
        logger.warning("a dependency is unavailable (resolving %s): %s", where, _one_line(original))
        return GraphQLError(
            "the service is temporarily unavailable; try again shortly",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": ErrorCode.SERVICE_UNAVAILABLE.value},
        )
    logger.error("unexpected error resolving %s", where, exc_info=original)
    return GraphQLError(
        "Internal server error",
        nodes=error.nodes,
        path=error.path,
        extensions=internal_error_extensions(),
    )


def internal_error_extensions() -> dict[str, Any]:
    """INTERNAL_SERVER_ERROR, and the id of the request whose log holds the traceback: the
    id a client quotes is the one to look for."""
    extensions: dict[str, Any] = {"code": ErrorCode.INTERNAL_SERVER_ERROR.value}
    request_id = current_request_id()
    if request_id is not None:
        extensions["requestId"] = request_id
    return extensions


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]
