"""The compiled read path's front door: answer before routing, or hand the request on intact.

A compiled query costs PostgreSQL a fraction of a millisecond; Starlette's router, Request and
Response cost about as much again. So a JSON POST to /graphql is read here, by a pure ASGI
middleware placed innermost - inside CORS and anything else added as middleware, which then
applies to compiled answers too - and offered to the compiled path
(GraphQLEndpoint.answer_compiled). When that path declines - a mutation, a field it does not
compile, an error to report - the request goes on to the router exactly as it came in: the
body is replayed, and the parsed payload and viewer ride along in the request's state.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.graphql import APPLICATION_JSON, negotiate
from app.numbers import parse_count
from app.observability import metrics

if TYPE_CHECKING:
    from app.http.graphql import GraphQLEndpoint

GRAPHQL_PATH = "/graphql"


def _headers(scope: Scope) -> tuple[bytes, bytes, bytes | None, bytes | None]:
    content_type, accept = b"", b""
    authorization: bytes | None = None
    length: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
        elif name == b"accept":
            accept = value
        elif name == b"authorization":
            authorization = value
        elif name == b"content-length":
            length = value
    return content_type, accept, authorization, length


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay


class CompiledReadsMiddleware:
    def __init__(self, app: ASGIApp, endpoint: GraphQLEndpoint) -> None:
        self.app, self.endpoint = app, endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = await answer_before_routing(self.endpoint, scope, receive, send)
            if found is None:
                return
            receive = found
        await self.app(scope, receive, send)


async def answer_before_routing(
    endpoint: GraphQLEndpoint, scope: Scope, receive: Receive, send: Send
) -> Receive | None:
    """None when answered; otherwise the receive channel the router must use instead."""
    if endpoint.compiled is None or scope["method"] != "POST" or scope["path"] != GRAPHQL_PATH:
        return receive
    started = time.perf_counter()
    content_type, accept, authorization, length = _headers(scope)
    if content_type.split(b";")[0].strip().lower() != APPLICATION_JSON.encode():
        return receive
    media_type = negotiate(accept.decode("latin-1"))
    limit = endpoint.settings.max_request_bytes
    declared = parse_count(length)
    if media_type is None or (declared is not None and declared > limit):
        return receive  # the endpoint says what is wrong
    messages: list[Message] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return _replaying(messages, receive)  # a disconnect: the endpoint deals with it
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return _replaying(messages, receive)  # 413 from the endpoint
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = await endpoint.answer_compiled(
        scope.setdefault("state", {}),
        b"".join(chunks),
        authorization.decode("latin-1") if authorization is not None else None,
    )
    if body is None:
        return _replaying(messages, receive)
    # Counted as the resolvers' answers are (schema.observability), on the same series -
    # before the answer leaves, so a client that got it finds it counted.
    metrics.observe_request("http", "query", metrics.OK, time.perf_counter() - started)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return None
