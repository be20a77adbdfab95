"""What an operation executed by Strawberry reports: the request counter and latency
(app.observability.metrics), the resolver-read counter, and its name and type for the
request's log line.

Every transport's operations come through here (HTTP, websockets, SSE); the compiled path,
which answers before Strawberry, reports for itself (app.http.graphql). Refusals before
execution that Strawberry never sees (a body too large, a wrong content type) the HTTP
endpoint counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from app.error_codes import ErrorCode
from app.observability import context as request_context
from app.observability import metrics
from schema.context import Context
from schema.errors import error_code

_CODES = frozenset(code.value for code in ErrorCode)


def outcome(errors: Sequence[GraphQLError] | None) -> str:
    """OK, or the code the first error reaches the client with (a bounded label: a code
    that is not one of ours - none should be - counts as INTERNAL_SERVER_ERROR)."""
    if not errors:
        return metrics.OK
    error = errors[0]
    code = error_code(error)
    if code is None and isinstance(error, GraphQLSyntaxError):
        return ErrorCode.GRAPHQL_PARSE_FAILED.value
    if code is None and error.original_error is None:
        return ErrorCode.GRAPHQL_VALIDATION_FAILED.value
    return code if code in _CODES else ErrorCode.INTERNAL_SERVER_ERROR.value


def transport_of(context: object) -> str:
    if not isinstance(context, Context):
        return "http"
    if context.request.scope["type"] == "websocket":
        return "websocket"
    return "sse" if context.long_lived else "http"


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        except (GeneratorExit, asyncio.CancelledError):
            self._report(started)  # a subscription (or a stream) closed by its client
            raise
        # Any other exception (an operation type this transport refuses) propagates to the
        # transport, which answers it - and the HTTP endpoint counts it.
        self._report(started)

    def _report(self, started: float) -> None:
        execution = self.execution_context
        try:
            kind = execution.operation_type
        except Exception:  # no document, or no such operation
            kind = None
        operation = kind.value if isinstance(kind, OperationType) else "none"
        transport = transport_of(execution.context)
        result = execution.result
        errors = (result.errors if result is not None else None) or execution.pre_execution_errors
        subscription = kind is OperationType.SUBSCRIPTION
        seconds = None if subscription else time.perf_counter() - started
        metrics.observe_request(transport, operation, outcome(errors), seconds)
        if kind is OperationType.QUERY:
            metrics.resolver_reads.inc()
        info = request_context.current()
        if info is not None and transport != "websocket":  # a socket's line is the socket's
            name = execution.operation_name if kind is not None else None
            info.ran(operation, name)
