"""GraphQL over Server-Sent Events: the protocol of the ``graphql-sse`` client (PROTOCOL.md).

Plain HTTP for clients and proxies that do not do websockets. Both of the protocol's modes:

- distinct connections: a request with ``Accept: text/event-stream`` (POST, or GET for
  queries and subscriptions) is answered with an event stream of ``next`` events and a
  ``complete``; on ``/graphql`` as on ``/graphql/stream``.
- single connection (``/graphql/stream``): PUT reserves a stream and answers its token; a GET
  with the token opens it; operations are POSTed with the token and an
  ``extensions.operationId`` and answered 202, their results travelling on the stream; DELETE
  with ``?operationId=`` stops one. A reservation lives in the process that made it: with
  several server processes this mode needs a client's requests routed to the same one.

Everything else is the websockets': Strawberry's streaming execution with the same document
limits, deadlines and error masking, the session re-checked at most once a second
(Context.long_lived), and the per-address budgets of app.http.websockets (a stream holds a
place as a socket does; its operations count as a socket's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from graphql import GraphQLError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send
from strawberry.http import process_result
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.utils.aio import aclosing

from app.auth.tokens import bearer_token
from app.error_codes import ErrorCode
from app.http.errors import error_response, errors_response
from app.http.requests import PayloadTooLarge, limited, parameter_problem
from app.http.websockets import Ticket, subscription_limit, too_many_subscriptions
from app.observability import metrics
from schema.context import Context
from schema.errors import error_code
from schema.limits import Documents

VALIDATION_FAILED = ErrorCode.GRAPHQL_VALIDATION_FAILED.value

if TYPE_CHECKING:
    from app.http.graphql import GraphQLEndpoint

logger = logging.getLogger("contentgraph.sse")

EVENT_STREAM = "text/event-stream"
TOKEN_HEADER = "x-graphql-event-stream-token"
#: A comment line every so often keeps proxies from closing a quiet stream.
KEEP_ALIVE_SECONDS = 12.0
#: A reservation nobody connects to is forgotten after this long.
RESERVATION_SECONDS = 60.0
#: Messages waiting for a single-connection stream; past this its slowest operation stops.
BACKLOG = 1024
HEADERS = {
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",  # nginx: pass events through at once
}
PING = b":\n\n"


def wants_event_stream(accept: str) -> bool:
    return any(part.split(";")[0].strip().lower() == EVENT_STREAM for part in accept.split(","))


def event(name: str, data: object | None, event_id: str | None = None) -> bytes:
    payload = b"" if data is None else orjson.dumps(data)
    head = b"id: " + event_id.encode() + b"\n" if event_id else b""
    return head + b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"


def event_id_of(result: ExecutionResult) -> str | None:
    """The ``eventId`` a subscription event's result carries (when the operation selected
    it): the SSE id, which a reconnecting client sends back as Last-Event-ID."""
    data = result.data
    if not isinstance(data, dict) or len(data) != 1:
        return None
    (root,) = data.values()
    found = root.get("eventId") if isinstance(root, dict) else None
    return found if isinstance(found, str) and found.isdecimal() else None


def payload_of(result: ExecutionResult) -> dict[str, Any]:
    """A result as GraphQL over HTTP writes it; no ``data`` for a request refused before
    execution (as /graphql does)."""
    body: dict[str, Any] = dict(process_result(result))
    if isinstance(result, PreExecutionError):
        body.pop("data", None)
    return body


@dataclass
class Reservation:
    token: str
    ticket: Ticket
    created: float = field(default_factory=time.monotonic)
    messages: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(BACKLOG))
    operations: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    open: bool = False

    def send(self, message: bytes, operation: str) -> None:
        try:
            self.messages.put_nowait(message)
        except asyncio.QueueFull:
            metrics.events_dropped.labels(reason="stream_backlog").inc()
            logger.warning("event stream backlog full: stopping operation %r", operation)
            task = self.operations.pop(operation, None)
            if task is not None:
                task.cancel()

    def close(self) -> None:
        for task in self.operations.values():
            task.cancel()
        self.operations.clear()
        self.ticket.release()


class EventStreams:
    def __init__(self, endpoint: GraphQLEndpoint) -> None:
        self.endpoint = endpoint
        self.reservations: dict[str, Reservation] = {}

    # The entry points.

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``/graphql/stream``, as an ASGI app: both modes, the body limit of /graphql."""
        limit = self.endpoint.settings.max_request_bytes
        request = Request(scope, receive=limited(receive, limit))
        try:
            response = await self.handle(request)
        except PayloadTooLarge:
            response = error_response(
                ErrorCode.PAYLOAD_TOO_LARGE, f"the request body exceeds {limit} bytes"
            )
        except ClientDisconnect:
            return
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        token = request.headers.get(TOKEN_HEADER) or request.query_params.get("token")
        reservation = self.reservations.get(token) if token else None
        if wants_event_stream(request.headers.get("accept", "")):
            if reservation is not None:
                return self._connect(reservation)
            return await self.distinct(request)
        if request.method == "PUT":
            return self._reserve(request, token)
        if request.method not in {"POST", "DELETE"}:
            return error_response(
                ErrorCode.METHOD_NOT_ALLOWED,
                "use GET or POST with Accept: text/event-stream, or PUT, POST "
                "and DELETE with a reservation",
            )
        if reservation is None:
            return error_response(
                ErrorCode.NOT_FOUND, "no event stream is reserved under this token"
            )
        if request.method == "DELETE":
            return self._stop(reservation, request.query_params.get("operationId"))
        return await self._operate(request, reservation)

    async def distinct(self, request: Request) -> Response:
        """One operation, its results on the response itself."""
        params = await self._params(request)
        if isinstance(params, Response):
            return params
        ticket = self._admit(request)
        if ticket is None:
            return self._over_budget()
        try:
            results = await self._execute(request, params)
        except BaseException:
            ticket.release()
            raise
        return StreamingResponse(
            self._distinct_events(results, ticket), media_type=EVENT_STREAM, headers=HEADERS
        )

    # Distinct connections.

    async def _distinct_events(self, results: Any, ticket: Ticket) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(BACKLOG)

        async def pump() -> None:
            try:
                async with aclosing(results):
                    async for result in results:
                        await queue.put(event("next", payload_of(result), event_id_of(result)))
                await queue.put(event("complete", None))
            finally:
                await queue.put(None)

        task = asyncio.create_task(pump())
        metrics.sse_connections.inc()
        try:
            yield PING  # headers out at once (some browsers wait for a first byte)
            async for message in _with_keep_alive(queue):
                if message is None:
                    return
                yield message
        finally:
            metrics.sse_connections.dec()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            ticket.release()

    # Single connection.

    def _reserve(self, request: Request, token: str | None) -> Response:
        accept = request.headers.get("accept", "*/*").split(";")[0].strip().lower()
        if accept not in {"*/*", "text/plain", ""}:
            return error_response(ErrorCode.NOT_ACCEPTABLE, "a reservation answers text/plain")
        self._forget_unused()
        if token is not None and token in self.reservations:
            return error_response(ErrorCode.CONFLICT, "this token already has a stream")
        ticket = self._admit(request)
        if ticket is None:
            return self._over_budget()
        token = token or secrets.token_urlsafe(24)
        self.reservations[token] = Reservation(token, ticket)
        return PlainTextResponse(token, status_code=201)

    def _forget_unused(self) -> None:
        stale = time.monotonic() - RESERVATION_SECONDS
        for token, reservation in list(self.reservations.items()):
            if not reservation.open and reservation.created < stale:
                reservation.close()
                del self.reservations[token]

    def _connect(self, reservation: Reservation) -> Response:
        if reservation.open:
            return error_response(ErrorCode.CONFLICT, "this reservation's stream is already open")
        reservation.open = True
        return StreamingResponse(
            self._single_events(reservation), media_type=EVENT_STREAM, headers=HEADERS
        )

    async def _single_events(self, reservation: Reservation) -> AsyncIterator[bytes]:
        metrics.sse_connections.inc()
        try:
            yield PING
            async for message in _with_keep_alive(reservation.messages):
                yield message
        finally:
            metrics.sse_connections.dec()
            self.reservations.pop(reservation.token, None)
            reservation.close()

    async def _operate(self, request: Request, reservation: Reservation) -> Response:
        params = await self._params(request)
        if isinstance(params, Response):
            return params
        extensions = params.get("extensions") or {}
        operation = extensions.get("operationId")
        if not isinstance(operation, str) or not operation:
            return error_response(ErrorCode.BAD_REQUEST, "extensions.operationId is missing")
        if operation in reservation.operations:
            return error_response(ErrorCode.CONFLICT, f"operation {operation!r} is already running")
        context = self._context(request)
        limit = subscription_limit(context)
        if len(reservation.operations) >= limit:
            return errors_response([too_many_subscriptions(limit)])
        refused = self._request_errors(params)
        if refused:  # PROTOCOL.md: as GraphQL over HTTP has it, not on the stream
            return errors_response([error.formatted for error in refused])
        results = await self._execute(request, params, context)
        reservation.operations[operation] = asyncio.create_task(
            self._forward(reservation, operation, results)
        )
        return Response(status_code=202)

    def _request_errors(self, params: dict[str, Any]) -> list[GraphQLError]:
        """What the document checks refuse, before anything runs (a subscription's first
        result comes with its first event: too late to answer the request with)."""
        documents: Documents = self.endpoint.schema.documents  # type: ignore[attr-defined]
        try:
            document = documents.parse(params["query"])
        except GraphQLError as refused:
            return [refused]
        errors = documents.validate(params["query"]) or documents.node_errors(
            document, params.get("operationName"), params.get("variables") or {}
        )
        for found in errors:
            if error_code(found) is None:
                found.extensions = {**(found.extensions or {}), "code": VALIDATION_FAILED}
        return errors

    async def _forward(self, reservation: Reservation, operation: str, results: Any) -> None:
        try:
            async with aclosing(results):
                async for result in results:
                    reservation.send(_next(operation, result), operation)
            reservation.send(event("complete", {"id": operation}), operation)
        finally:
            reservation.operations.pop(operation, None)

    def _stop(self, reservation: Reservation, operation: str | None) -> Response:
        if not operation:
            return error_response(ErrorCode.BAD_REQUEST, "?operationId= is missing")
        task = reservation.operations.pop(operation, None)
        if task is not None:
            task.cancel()
        return Response(status_code=200)

    # Shared.

    async def _params(self, request: Request) -> dict[str, Any] | Response:
        """The request's GraphQL parameters, or the 4xx that says what is wrong with them."""
        try:
            if request.method == "GET":
                payload: object = self.endpoint.parse_query_params(request.query_params)
            else:
                payload = orjson.loads(await request.body())
        except Exception:  # malformed JSON (in the body or in variables=)
            return error_response(ErrorCode.BAD_REQUEST, "the request is not valid JSON")
        wrong = parameter_problem(payload)
        if wrong is not None:
            return error_response(ErrorCode.BAD_REQUEST, wrong)
        assert isinstance(payload, dict)
        if not isinstance(payload.get("query"), str):
            return error_response(ErrorCode.BAD_REQUEST, "the request has no query")
        return payload

    def _context(self, request: Request) -> Context:
        context = Context(
            request=request, response=None, services=self.endpoint.services, long_lived=True
        )
        # A distinct stream reconnecting (EventSource does by itself) resumes after the last
        # event it got, as if its subscription had said `after:`.
        context.resume_after = request.headers.get("last-event-id") or None
        return context

    async def _execute(
        self, request: Request, params: dict[str, Any], context: Context | None = None
    ) -> Any:
        allowed = None
        if request.method == "GET":
            allowed = (OperationType.QUERY, OperationType.SUBSCRIPTION)  # no mutation over GET
        return await self.endpoint.schema.stream(
            params["query"],
            variable_values=params.get("variables"),
            context_value=context or self._context(request),
            operation_name=params.get("operationName"),
            allowed_operation_types=allowed,
        )

    def _admit(self, request: Request) -> Ticket | None:
        """A place in the address's budget of sockets (anonymous ones stricter)."""
        address = request.client.host if request.client else "unknown"
        ticket = self.endpoint.sockets.admit(address)
        if ticket is None:
            return None
        if bearer_token(request.headers.get("authorization")) is None and not (
            ticket.claim_anonymous()
        ):
            ticket.release()
            return None
        return ticket

    @staticmethod
    def _over_budget() -> Response:
        message = "too many event streams or sockets from this address; close some (or sign in)"
        return error_response(
            ErrorCode.TOO_MANY_SUBSCRIPTIONS, message, headers={"Retry-After": "5"}
        )


def _next(operation: str, result: ExecutionResult) -> bytes:
    return event("next", {"id": operation, "payload": payload_of(result)})


async def _with_keep_alive(queue: asyncio.Queue[Any]) -> AsyncIterator[Any]:
    """The queue's items, and PING whenever it stays quiet for KEEP_ALIVE_SECONDS."""
    while True:
        try:
            yield await asyncio.wait_for(queue.get(), KEEP_ALIVE_SECONDS)
        except TimeoutError:
            yield PING
