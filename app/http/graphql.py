"""The GraphQL endpoint, speaking GraphQL over HTTP.

Strawberry's view does the execution; this subclass adds what the spec and our clients expect:
content negotiation (``application/graphql-response+json`` with 4xx for request errors, legacy
``application/json`` with 200), 406 for unacceptable Accept headers, 405 for mutations over GET,
415 for unknown content types, a bounded request body, JSON error bodies with a stable code
instead of plain text, and GraphiQL from our own origin.
"""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

from app.config import Settings
from app.db.database import Database
from app.http.graphiql import render_graphiql_page
from schema.context import Context
from schema.errors import ErrorCode

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
GRAPHIQL_ASSETS_PREFIX = "/graphiql/static"

_STATUS_CODES = {
    400: ErrorCode.BAD_REQUEST.value,
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


class PayloadTooLarge(Exception):
    pass


def negotiate(accept: str) -> str | None:
    """The response media type for an Accept header, or None when we can offer nothing."""
    if not accept.strip():
        return APPLICATION_JSON
    best: tuple[float, int, str] | None = None
    for position, item in enumerate(accept.split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media == GRAPHQL_RESPONSE_JSON:
            offer = GRAPHQL_RESPONSE_JSON
        elif media in {APPLICATION_JSON, "application/*", "*/*"}:
            offer = APPLICATION_JSON
        else:
            continue
        if quality <= 0:
            continue
        # Higher quality wins; on a tie the first listed wins.
        if best is None or quality > best[0]:
            best = (quality, position, offer)
    return best[2] if best else None


def error_body(status: int, message: str) -> dict[str, Any]:
    code = _STATUS_CODES.get(status, ErrorCode.BAD_REQUEST.value)
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


class GraphQLEndpoint(GraphQL[Context, None]):
    def __init__(self, *, db: Database, settings: Settings, schema: Any) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=True,
            multipart_uploads_enabled=False,
        )
        self.db = db
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive=self._limited(scope, receive))
        try:
            response = await self._respond(request)
        except HTTPException as exc:
            response = self._http_error(exc.status_code, exc.reason)
        except PayloadTooLarge:
            limit = self.settings.max_request_bytes
            response = self._http_error(413, f"the request body exceeds {limit} bytes")
        await response(scope, receive, send)

    def _limited(self, scope: Scope, receive: Receive) -> Receive:
        """Refuse bodies past the limit, whether or not Content-Length tells the truth."""
        limit = self.settings.max_request_bytes
        received = 0

        async def guarded() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge
            return message

        return guarded

    async def _respond(self, request: Request) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.settings.max_request_bytes:
            raise PayloadTooLarge
        if request.method not in {"GET", "POST"}:
            raise HTTPException(405, "GraphQL is served over GET (queries) and POST")
        if self.should_render_graphql_ide(self.request_adapter_class(request)):
            return await super().run(request)
        media_type = negotiate(request.headers.get("accept", ""))
        if media_type is None:
            raise HTTPException(
                406, f"the response can be {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON}"
            )
        request.state.media_type = media_type
        if request.method == "POST":
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != APPLICATION_JSON:
                raise HTTPException(415, "send the GraphQL request as application/json")
        return await super().run(request)

    def _http_error(self, status: int, message: str) -> Response:
        headers = {"Allow": "GET, POST"} if status == 405 else None
        return JSONResponse(error_body(status, message), status_code=status, headers=headers)

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as exc:
            if isinstance(exc.__cause__, InvalidOperationTypeError):
                raise HTTPException(405, "only queries may be sent with GET; use POST") from exc
            raise

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return Context(request=request, response=response, db=self.db, settings=self.settings)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(
            render_graphiql_page(endpoint=request.url.path, assets_prefix=GRAPHIQL_ASSETS_PREFIX)
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        media_type = getattr(request.state, "media_type", APPLICATION_JSON)
        request.state.graphql_status = 200
        if media_type == GRAPHQL_RESPONSE_JSON and _is_request_error(result):
            request.state.graphql_status = 400
        return process_result(result)

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Any
    ) -> Response:
        request: Request = sub_response.request
        response = Response(
            self.encode_json(response_data),
            status_code=getattr(request.state, "graphql_status", 200),
            media_type=getattr(request.state, "media_type", APPLICATION_JSON),
        )
        response.headers.raw.extend(
            (key, value) for key, value in sub_response.headers.raw if key != b"content-type"
        )
        return response

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.request = request  # type: ignore[attr-defined]
        return sub_response

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise HTTPException(400, f"the request body is not valid JSON: {exc}") from None


def _is_request_error(result: ExecutionResult) -> bool:
    """Parse, validation and variable errors: execution never started, so no field has a path."""
    errors = result.errors or []
    return result.data is None and bool(errors) and all(error.path is None for error in errors)
