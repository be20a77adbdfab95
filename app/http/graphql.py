"""The GraphQL endpoint, speaking GraphQL over HTTP.

Strawberry's view does the execution; this subclass adds what the spec and our clients expect:
content negotiation (``application/graphql-response+json`` with 4xx for request errors, legacy
``application/json`` with 200), 406 for unacceptable Accept headers, 405 for mutations over GET,
415 for unknown content types, 400 for ill-typed request parameters, a bounded request body,
JSON error bodies with a stable code instead of plain text, no ``data`` entry when a request is
refused before execution, and GraphiQL from our own origin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from cross_web.request._starlette import StarletteRequestAdapter
from graphql import GraphQLError, GraphQLSyntaxError
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.websocket_origin import is_same_origin
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from app.auth.tokens import bearer_token
from app.container import Services
from app.error_codes import ErrorCode
from app.failures import is_unavailable
from app.http.cors import CorsPolicy
from app.http.errors import code_for_status, status_for, status_response
from app.http.event_streams import EventStreams, wants_event_stream
from app.http.graphiql import render_graphiql_page
from app.http.requests import PayloadTooLarge, limited, parameter_problem
from app.http.uploads import CSRF_HEADERS, MultipartUpload, UploadLimits
from app.http.websockets import (
    STATE_KEY,
    LegacyWSHandler,
    LimitedWebSocketAdapter,
    SocketBudget,
    TransportWSHandler,
    client_address,
    refuse,
)
from app.numbers import parse_count
from app.observability import context as request_context
from app.observability import metrics
from app.storage.entities import ENTITIES, limits_for
from schema.compiled import CompiledReads
from schema.context import Context
from schema.errors import Unauthenticated, error_code, internal_error_extensions

logger = logging.getLogger("contentgraph.graphql")

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
MULTIPART = "multipart/form-data"
GRAPHIQL_ASSETS_PREFIX = "/graphiql/static"


def accepted(accept: str) -> Iterator[tuple[str, float]]:
    """Each media range of an Accept header, lowercased, with its quality (1 by default)."""
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        yield media.lower(), quality


def negotiate(accept: str) -> str | None:
    """The response media type for an Accept header, or None when we can offer nothing."""
    if not accept.strip():
        return APPLICATION_JSON
    best: tuple[float, int, str] | None = None
    for position, (media, quality) in enumerate(accepted(accept)):
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


def prefers_html(accept: str) -> bool:
    """Whether a client would rather have the HTML of GraphiQL than a JSON result: a browser
    following a link (``text/html`` first, ``*/*`` lower). A tie goes to JSON, so ``*/*``
    alone (curl) and clients naming both get the query executed."""
    ranges = list(accepted(accept))
    html = _quality(ranges, "text/html")
    return html > 0 and html > max(
        _quality(ranges, APPLICATION_JSON), _quality(ranges, GRAPHQL_RESPONSE_JSON)
    )


def _quality(ranges: list[tuple[str, float]], media_type: str) -> float:
    """The quality of ``media_type``: from the most specific range that matches it
    (RFC 9110, 12.5.1), 0 when none does."""
    kind = media_type.split("/")[0]
    for candidate in (media_type, f"{kind}/*", "*/*"):
        qualities = [quality for media, quality in ranges if media == candidate]
        if qualities:
            return max(qualities)
    return 0.0


class RequestAdapter(StarletteRequestAdapter):
    """Strawberry's adapter, with the Starlette request in reach (for multipart streaming)."""

    @property
    def starlette_request(self) -> Request:
        return self._request


class GraphQLEndpoint(GraphQL[Context, None]):
    request_adapter_class = RequestAdapter
    websocket_adapter_class = LimitedWebSocketAdapter
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, *, services: Services, schema: Any) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if services.settings.graphiql else None,
            allow_queries_via_get=True,
            keep_alive=True,  # legacy graphql-ws "ka" messages keep proxies from idling out
            keep_alive_interval=15,
            # Multipart is parsed by our own streaming parser (app.http.uploads), with CSRF
            # protection; Strawberry's would buffer files and has no limits.
            multipart_uploads_enabled=False,
            max_subscriptions_per_connection=None,  # app.http.websockets: per viewer kind
        )
        self.services = services
        self.settings = services.settings
        self.cors = CorsPolicy.from_settings(services.settings)
        self.event_streams = EventStreams(self)
        self.sockets = SocketBudget(
            services.settings.ws_max_connections_per_address,
            services.settings.ws_max_anonymous_connections_per_address,
        )
        self.compiled: CompiledReads | None = None
        if services.settings.compiled_reads and services.db.json_reads is not None:
            self.compiled = CompiledReads(
                schema=schema._schema,
                documents=schema.documents,
                settings=services.settings,
                db=services.db,
                urls=services.urls,
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        started = time.perf_counter()
        limit = self._body_limit(scope)
        request = Request(scope, receive=limited(receive, limit))
        try:
            response = await self._respond(request, limit)
        except HTTPException as exc:
            response = self._http_error(exc.status_code, exc.reason)
            self._refused(request, exc.status_code, started)
        except PayloadTooLarge:
            response = self._http_error(413, f"the request body exceeds {limit} bytes")
            self._refused(request, 413, started)
        except ClientDisconnect:
            logger.info("client went away mid-request; its partial upload is discarded")
            return
        finally:
            upload: MultipartUpload | None = getattr(request.state, "upload", None)
            if upload is not None:
                await upload.cleanup()
        await response(scope, receive, send)

    def _refused(self, request: Request, status: int, started: float) -> None:
        """A request refused before an operation ran (Strawberry never saw it): counted here,
        with the code its answer carries; an upload's refusal by its reason too."""
        code = code_for_status(status).value
        metrics.observe_request("http", "none", code, time.perf_counter() - started)
        if _is_multipart(request.headers.get("content-type", "")) and not getattr(
            request.state, "csrf_refused", False
        ):
            reason = "too_large" if status == 413 else "storage" if status >= 500 else "malformed"
            metrics.upload_refusals.labels(reason=reason).inc()

    def _check_websocket_origin(self, request: WebSocket) -> bool:
        """The cross-origin policy of HTTP (app.http.cors) for websocket handshakes too:
        same-origin and non-browser clients (no Origin) always, others when allowed."""
        origin = request.headers.get("origin")
        if origin is None or request.headers.get("sec-fetch-site") == "same-origin":
            return True
        if is_same_origin(origin, request.headers.get("host")) or self.cors.allows(origin):
            return True
        logger.warning(
            "refused a websocket from a page on %r: add it to CORS_ORIGINS (or match it with "
            "CORS_ORIGIN_REGEX) if it should connect",
            origin,
        )
        return False

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Each socket holds a place in its address's budget until it closes."""
        websocket = WebSocket(scope, receive, send)
        ticket = self.sockets.admit(client_address(websocket))
        if ticket is None:
            await refuse(websocket, "too many connections from this address; close some first")
            return
        scope.setdefault("state", {})[STATE_KEY] = ticket
        metrics.websocket_connections.inc()
        try:
            await super().__call__(scope, receive, send)
        finally:
            metrics.websocket_connections.dec()
            ticket.release()

    def _body_limit(self, scope: Scope) -> int:
        if _is_multipart(Headers(scope=scope).get("content-type", "")):
            return self.settings.multipart_max_bytes
        return self.settings.max_request_bytes

    async def _respond(self, request: Request, limit: int) -> Response:
        length = parse_count(request.headers.get("content-length"))
        if length is not None and length > limit:
            raise PayloadTooLarge
        if request.method not in {"GET", "POST"}:
            raise HTTPException(405, "GraphQL is served over GET (queries) and POST")
        if self.should_render_graphql_ide(self.request_adapter_class(request)):
            return await super().run(request)
        if wants_event_stream(request.headers.get("accept", "")):
            return await self.event_streams.distinct(request)  # GraphQL over SSE
        media_type = negotiate(request.headers.get("accept", ""))
        if media_type is None:
            raise HTTPException(
                406, f"the response can be {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON}"
            )
        request.state.media_type = media_type
        if request.method == "POST":
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type == MULTIPART:
                self._check_csrf(request)
                request.state.upload = MultipartUpload(self.services.files.blobs, self._limits())
            elif content_type != APPLICATION_JSON:
                raise HTTPException(
                    415,
                    "send the GraphQL request as application/json (multipart/form-data "
                    "for file uploads)",
                )
        return await super().run(request)

    async def answer_compiled(
        self, state: dict[str, Any], body: bytes, authorization: str | None
    ) -> bytes | None:
        """The response body from the compiled read path, or None for normal execution
        (app.http.fast_reads calls this before routing).

        The parsed body and the viewer are kept in the request's ``state``, so falling back
        costs neither a second parse nor a second session lookup.
        """
        compiled = self.compiled
        if compiled is None:
            return None
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None  # parse_http_body refuses it
        state["payload"] = payload
        if not isinstance(payload, dict) or parameter_problem(payload) is not None:
            return None  # parse_http_body says what is wrong
        query, operation_name = payload.get("query"), payload.get("operationName")
        variables, extensions = payload.get("variables"), payload.get("extensions")
        if not isinstance(query, str) or (extensions and "persistedQuery" in extensions):
            return None
        try:
            plan = compiled.plan(query, operation_name)
            if plan is None:
                return None
            bound = compiled.bind(plan, variables or {}, operation_name)
            if bound is None:
                return None
            viewer = await self.services.auth.viewer(bearer_token(authorization))
            state["viewer"] = viewer
            if viewer is None:
                return None
            tracing = self.services.tracing
            if tracing is None:
                answer = await compiled.answer(plan, bound, viewer)
            else:
                with tracing.operation("query", plan.operation_name, compiled=True):
                    answer = await compiled.answer(plan, bound, viewer)
            info = request_context.current()
            if answer is not None and info is not None:
                info.ran("query", operation_name or plan.operation_name)
            return answer
        except Exception as error:
            # The resolvers answer instead - with the error masked, if it happens there too.
            state.pop("viewer", None)
            if is_unavailable(error):  # the database, not this path: no traceback, no count
                logger.warning("compiled read: the database is unavailable (%s)", error)
                return None
            compiled.failed += 1
            metrics.compiled_read_failures.inc()
            logger.exception("the compiled read failed; answering through the resolvers")
            return None

    def _check_csrf(self, request: Request) -> None:
        """multipart/form-data is a "simple" request a hostile page can send with the user's
        cookies; requiring a custom header forces a CORS preflight first."""
        if not any(request.headers.get(name) for name in CSRF_HEADERS):
            metrics.upload_refusals.labels(reason="csrf").inc()
            request.state.csrf_refused = True
            raise HTTPException(
                400,
                "multipart requests must carry a non-empty Apollo-Require-Preflight (or "
                "X-Apollo-Operation-Name, or GraphQL-Preflight) header: it protects against "
                "cross-site request forgery",
            )

    def _limits(self) -> UploadLimits:
        per_entity = [limits_for(self.settings, name) for name in ENTITIES]
        return UploadLimits(
            max_file_bytes=max(limits.max_bytes for limits in per_entity),
            max_files=max(limits.max_files for limits in per_entity),
            max_field_bytes=self.settings.max_request_bytes,
        )

    def _http_error(self, status: int, message: str) -> Response:
        headers = {"Allow": "GET, POST"} if status == 405 else None
        return status_response(status, message, headers=headers)

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as exc:
            if isinstance(exc.__cause__, InvalidOperationTypeError):
                raise HTTPException(405, "only queries may be sent with GET; use POST") from exc
            raise

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        context = Context(request=request, response=response, services=self.services)
        if hasattr(request.state, "viewer"):
            context.known_viewer(request.state.viewer)
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Check the connection_init token once, so a bad one closes the socket (4403)."""
        if context.token() is not None:
            try:
                await context.viewer()
            except Unauthenticated as exc:
                raise ConnectionRejectionError({"message": str(exc)}) from None
        unset: UnsetType = UNSET
        return unset

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """GraphiQL for a browser, also when the URL carries a query: a shared link opens the
        IDE with the operation filled in (the page reads it from the URL) rather than running
        it. Clients asking for JSON still get GET executed, as GraphQL over HTTP requires."""
        if request.method != "GET" or request.query_params.get("query") is None:
            return super().should_render_graphql_ide(request)
        return self.graphql_ide is not None and prefers_html(request.headers.get("accept", ""))

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(
            render_graphiql_page(endpoint=request.url.path, assets_prefix=GRAPHIQL_ASSETS_PREFIX),
            headers={"Vary": "Accept"},  # the same URL executes for a GraphQL client
        )

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        """Read one operation, refusing every malformed one with a 400.

        Strawberry's reader assumes the JSON is an object (``1`` or ``null`` crashed it into a
        500) and hands any ``operationName`` on as text (``{}`` became "Unknown operation named
        '{}'"). Batching and multipart are off and _respond has already refused other content
        types, so a single JSON object - the body, or the query string for GET - is all we take.
        """
        assert isinstance(request, RequestAdapter)
        upload: MultipartUpload | None = getattr(request.starlette_request.state, "upload", None)
        if request.method == "GET":
            payload: object = self.parse_query_params(request.query_params)
        elif upload is not None:
            payload = await upload.parse(request.starlette_request)
        elif hasattr(request.starlette_request.state, "payload"):
            payload = request.starlette_request.state.payload
        else:
            payload = self.parse_json(await request.get_body())
        problem = parameter_problem(payload)
        if problem is not None:
            raise HTTPException(400, problem)
        assert isinstance(payload, dict)
        return GraphQLRequestData(
            query=payload.get("query"),
            variables=payload.get("variables"),
            operation_name=payload.get("operationName"),
            extensions=payload.get("extensions"),
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        media_type = getattr(request.state, "media_type", APPLICATION_JSON)
        if result.errors:
            result.errors = [_with_code(error) for error in result.errors]
        request_error = _is_request_error(result)
        request.state.graphql_status = 200
        if media_type == GRAPHQL_RESPONSE_JSON and request_error:
            # Refused before execution: the client's mistake (400), unless our own code failed.
            codes = (error_code(error) for error in result.errors or ())
            request.state.graphql_status = status_for(codes)
        response = process_result(result)
        if request_error:
            # GraphQL spec, "Response": an error raised before execution begins leaves no data
            # entry at all - which is how clients tell a refused request from a null result.
            response.pop("data", None)
        return response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Any
    ) -> Response:
        request: Request = sub_response.request
        response = Response(
            orjson.dumps(response_data),
            status_code=getattr(request.state, "graphql_status", 200),
            media_type=getattr(request.state, "media_type", APPLICATION_JSON),
        )
        response.headers.raw.extend(
            (key, value) for key, value in sub_response.headers.raw if key != b"content-type"
        )
        if request.method == "GET":
            response.headers["Vary"] = "Accept"  # the same URL opens GraphiQL for a browser
        return response

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = Response()
        del sub_response.headers["content-length"]
        sub_response.request = request  # type: ignore[attr-defined]
        return sub_response

    def encode_json(self, data: object) -> str:
        """Text, because websocket messages must be text frames: graphql-ws in a browser
        drops binary frames. HTTP responses are encoded to bytes directly."""
        return orjson.dumps(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        """orjson's JSONDecodeError is json's: the websocket handlers catch it (4400)."""
        return orjson.loads(data)

    def parse_json(self, data: str | bytes) -> object:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise HTTPException(400, f"the request is not valid JSON: {exc}") from None


def _is_multipart(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == MULTIPART


#: Errors without a path that nonetheless come from execution: the operation started.
_EXECUTION_CODES = frozenset({ErrorCode.OPERATION_TIMEOUT.value})


def _is_request_error(result: ExecutionResult) -> bool:
    """Parse, validation and variable errors: execution never started, so no field has a path."""
    errors = result.errors or []
    return (
        result.data is None
        and bool(errors)
        and all(error.path is None for error in errors)
        and not any(error_code(error) in _EXECUTION_CODES for error in errors)
    )


def _with_code(error: GraphQLError) -> GraphQLError:
    """A backstop for errors that got past the ErrorCodes extension without a code.

    ParserCache parses inside its own ``on_parse``, so a syntax error escapes before ErrorCodes
    sees the parse phase; and an exception raised by an extension reaches us carrying its own
    text. The first gets its code; the second is logged and masked like any unexpected error.
    """
    if error_code(error) is not None:
        return error
    if isinstance(error, GraphQLSyntaxError):
        code = ErrorCode.GRAPHQL_PARSE_FAILED.value
        error.extensions = {**(error.extensions or {}), "code": code}
        return error
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return error
    logger.error("unexpected error outside execution", exc_info=original)
    return GraphQLError(
        "Internal server error",
        nodes=error.nodes,
        path=error.path,
        extensions=internal_error_extensions(),
    )
