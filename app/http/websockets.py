"""GraphQL over websockets, with the limits HTTP has: message size, messages that are not what
the protocol says, sockets per client address and subscriptions per socket - both stricter
for anonymous clients, whose sockets cost them nothing to open.

graphql-transport-ws (PROTOCOL.md): a message that is not JSON, not an object, or not of a
known shape closes the socket with 4400; one over the size limit with 1009 (message too
big). Legacy graphql-ws ignores what it cannot parse, as its reference server did. A client
over its socket budget is accepted and closed at once with 1013 (try again later) and a
reason, so a browser sees why; one over its subscription budget gets an error for that
operation (TOO_MANY_SUBSCRIPTIONS) and keeps the others.

The budgets are per server process: with ``--workers N`` an address may hold N times as many.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from json import JSONDecodeError
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from app.auth.tokens import bearer_token
from app.error_codes import ErrorCode
from app.http.errors import error_object
from schema.context import Context

MESSAGE_TOO_BIG = 1009
TRY_AGAIN_LATER = 1013
STATE_KEY = "socket_ticket"

#: The payload fields a subscribe (or legacy start) message may carry, and their JSON types.
_PAYLOAD_FIELDS = (
    ("query", str, True),
    ("variables", dict, False),
    ("operationName", str, False),
    ("extensions", dict, False),
)


class NotAnObject(Exception):
    """A JSON message that is not an object with a string ``type``."""


@dataclass
class Ticket:
    """One open socket's claim on its address's budget."""

    budget: SocketBudget
    address: str
    anonymous: bool = False
    released: bool = field(default=False)

    def claim_anonymous(self) -> bool:
        """Count this socket as anonymous (connection_init carried no token); False when the
        address already holds all the anonymous sockets it may."""
        if self.anonymous:
            return True
        if self.budget.anonymous[self.address] >= self.budget.max_anonymous:
            return False
        self.anonymous = True
        self.budget.anonymous[self.address] += 1
        return True

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        self.budget.release(self)


class SocketBudget:
    def __init__(self, max_per_address: int, max_anonymous: int) -> None:
        self.max_per_address, self.max_anonymous = max_per_address, max_anonymous
        self.open: collections.Counter[str] = collections.Counter()
        self.anonymous: collections.Counter[str] = collections.Counter()

    def admit(self, address: str) -> Ticket | None:
        if self.open[address] >= self.max_per_address:
            return None
        self.open[address] += 1
        return Ticket(self, address)

    def release(self, ticket: Ticket) -> None:
        for counter, counted in ((self.open, True), (self.anonymous, ticket.anonymous)):
            if counted:
                counter[ticket.address] -= 1
                if counter[ticket.address] <= 0:
                    del counter[ticket.address]


def client_address(websocket: WebSocket) -> str:
    return websocket.client.host if websocket.client else "unknown"


async def refuse(websocket: WebSocket, reason: str) -> None:
    """Accept (in the client's protocol, so a browser's handshake succeeds) and close with
    1013 and the reason: a refused handshake would tell the client nothing."""
    offered = websocket.scope.get("subprotocols") or []
    protocol = next(
        (p for p in offered if p in (GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL)), None
    )
    await websocket.accept(subprotocol=protocol)
    await websocket.close(code=TRY_AGAIN_LATER, reason=reason)


class LimitedWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's adapter, refusing messages over the size limit and non-objects."""

    async def send_text(self, text: str) -> None:
        """A frame serialised already (see TransportWSHandler._send_result_stream)."""
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        limit: int = self.view.settings.max_request_bytes  # type: ignore[attr-defined]
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text) > limit // 4 and len(text.encode()) > limit:
                    await self.close(MESSAGE_TOO_BIG, f"messages are limited to {limit} bytes")
                    return
                try:
                    message = self.view.decode_json(text)
                    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                        raise NotAnObject
                except (JSONDecodeError, NotAnObject) as error:
                    if ignore_parsing_errors:
                        continue
                    raise NonJsonMessageReceived from error
                yield message
        except KeyError as error:
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass


def malformed_payload(payload: object) -> str | None:
    """Why a subscribe/start payload is not one GraphQL request, or None."""
    if not isinstance(payload, dict):
        return "the payload must be an object"
    for name, kind, required in _PAYLOAD_FIELDS:
        value = payload.get(name)
        if (value is None and required) or (value is not None and not isinstance(value, kind)):
            return f"payload.{name} must be {'a string' if kind is str else 'an object'}"
    return None


def subscription_limit(context: Context) -> int:
    settings = context.settings
    if context.token() is None:
        return settings.ws_max_anonymous_subscriptions
    return settings.ws_max_subscriptions


def too_many_subscriptions(limit: int) -> dict[str, Any]:
    return error_object(
        ErrorCode.TOO_MANY_SUBSCRIPTIONS,
        f"this socket holds {limit} operations, its limit; complete one first",
        limit=limit,
    )


def ticket_of(context: Context) -> Ticket | None:
    ticket: Ticket | None = context.request.scope.get("state", {}).get(STATE_KEY)
    return ticket


def anonymous_refused(context: Context, payload: object) -> bool:
    """connection_init without a token from an address holding its anonymous budget."""
    params = payload if isinstance(payload, dict) else {}
    token = bearer_token(
        params.get("token") or params.get("Authorization") or params.get("authorization")
    )
    ticket = ticket_of(context)
    return token is None and ticket is not None and not ticket.claim_anonymous()


ANONYMOUS_REFUSAL = (
    "too many anonymous connections from this address: sign in (a token in connection_init) "
    "or close some"
)


def payload_json(result: ExecutionResult) -> str:
    """A result's `next` payload, serialised once: the members of a subscription's shape
    share one result object (schema.subscription_stream), so ten thousand subscribers cost
    one serialisation, not ten thousand."""
    cached: str | None = getattr(result, "_payload_json", None)
    if cached is None:
        payload: dict[str, object] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        if result.extensions:
            payload["extensions"] = result.extensions
        cached = orjson.dumps(payload).decode()
        result._payload_json = cached  # type: ignore[attr-defined]
    return cached


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def _send_result_stream(
        self, operation: Operation[Context, None], result_source: Any
    ) -> None:
        """Strawberry's loop, but each `next` frame written from a shared serialisation
        (`payload_json`): per subscriber only the operation id is added."""
        first = True
        async for result in result_source:
            if first and isinstance(result, PreExecutionError):
                await self._handle_pre_execution_error(operation, result)
                return
            if not isinstance(result, ExecutionResult):
                await self._reject_incremental_delivery(operation)
                return
            first = False
            if operation.completed:
                continue
            frame = f'{{"id":{orjson.dumps(operation.id).decode()},"type":"next","payload":'
            await self.websocket.send_text(frame + payload_json(result) + "}")  # type: ignore[attr-defined]

    async def handle_message(self, message: Any) -> None:
        kind = message["type"]
        if kind in {"subscribe", "complete"} and not isinstance(message.get("id"), str):
            await self.handle_invalid_message(f"a {kind} message needs a string id")
            return
        if kind == "subscribe":
            problem = malformed_payload(message.get("payload"))
            if problem is not None:
                await self.handle_invalid_message(f"invalid subscribe message: {problem}")
                return
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        if not self.connection_init_received and anonymous_refused(
            self.context, message.get("payload")
        ):
            await self.websocket.close(code=TRY_AGAIN_LATER, reason=ANONYMOUS_REFUSAL)
            return
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: Any) -> None:
        if self.connection_acknowledged and message["id"] not in self.operations:
            limit = subscription_limit(self.context)
            if len(self.operations) >= limit:
                refusal: Any = {
                    "id": message["id"],
                    "type": "error",
                    "payload": [too_many_subscriptions(limit)],
                }
                await self.send_message(refusal)
                return
        await super().handle_subscribe(message)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    async def handle_message(self, message: Any) -> None:
        kind = message["type"]
        if kind in {"start", "stop"} and not isinstance(message.get("id"), str):
            return  # the legacy protocol has no way to say what is wrong: ignore
        if kind == "start":
            problem = malformed_payload(message.get("payload"))
            if problem is not None:
                await self.send_message(
                    {"type": "error", "id": message["id"], "payload": {"message": problem}}
                )
                return
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        if anonymous_refused(self.context, message.get("payload")):
            await self.send_message(
                {"type": "connection_error", "payload": {"message": ANONYMOUS_REFUSAL}}
            )
            await self.websocket.close(code=TRY_AGAIN_LATER, reason=ANONYMOUS_REFUSAL)
            return
        await super().handle_connection_init(message)

    async def handle_start(self, message: Any) -> None:
        if self.connection_acknowledged and message["id"] not in self.tasks:
            limit = subscription_limit(self.context)
            if len(self.tasks) >= limit:
                refusal: Any = {
                    "type": "error",
                    "id": message["id"],
                    "payload": too_many_subscriptions(limit),
                }
                await self.send_message(refusal)
                return
        await super().handle_start(message)
