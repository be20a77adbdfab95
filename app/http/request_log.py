"""Every request gets an id and one log line; an error nobody caught gets logged under it.

Pure ASGI, around everything (Starlette's error middleware included, see app.server), for
HTTP requests and websockets alike:

- the id is the client's ``X-Request-Id`` when it is a sane one (app.observability.context:
  at most 64 of ``A-Za-z0-9._:-``), a fresh one otherwise; it goes back in the response's
  ``X-Request-Id`` (a websocket's handshake answer too), into every log record made while
  the request is served, and into ``extensions.requestId`` of a masked internal error;
- when the request ends, one line on ``contentgraph.access``: method, path, status, duration,
  the GraphQL operation's name and type when one ran, the id. Probes (/healthz, /readyz,
  /metrics) log at DEBUG, so a scraper does not fill the log.
- an exception that reaches here - after Starlette's error middleware answered 500 - is
  logged once, with its traceback and the id, and goes no further: uvicorn would log it again
  without the id. (A websocket's goes on to uvicorn, which closes the socket with 1011.)
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import context
from app.observability.logs import printable, with_fields

HEADER = b"x-request-id"
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/favicon.ico"})
MAX_PATH = 300

logger = logging.getLogger("contentgraph.access")
errors = logging.getLogger("contentgraph.errors")


def _client_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            found: str = value.decode("latin-1")
            return found
    return None


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        request_id = context.accepted_request_id(_client_id(scope))
        header = (HEADER, request_id.encode())
        info, token = context.begin(request_id)
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            elif kind == "websocket.accept":
                status = 101
                message["headers"] = [*message.get("headers", ()), header]
            elif kind == "websocket.close" and status is None:
                status = 403  # closed before accepting: the handshake was refused
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if scope["type"] != "http":
                raise  # uvicorn closes the socket as it should (1011, or 500 before accepting)
            errors.exception("unexpected error serving %s", _path(scope))
            status = status or 500
        finally:
            _log_request(scope, info, status, time.perf_counter() - started)
            context.end(token)


def _path(scope: Scope) -> str:
    path = printable(scope.get("path", ""))
    return path if len(path) <= MAX_PATH else path[:MAX_PATH] + "..."


def _log_request(
    scope: Scope, info: context.RequestInfo, status: int | None, seconds: float
) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return  # not even a request line would be written (and probes' are quieter still)
    path = _path(scope)
    level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
    if not logger.isEnabledFor(level):
        return
    method = scope.get("method", "WS") if scope["type"] == "http" else "WS"
    duration_ms = round(seconds * 1000, 2)
    logger.log(
        level,
        "%s %s %s %.1f ms",
        method,
        path,
        status if status is not None else "-",
        duration_ms,
        extra=with_fields(
            method=method,
            path=path,
            status=status,
            duration_ms=duration_ms,
            operation=info.operation_name,
            operation_type=info.operation_type,
        ),
    )
