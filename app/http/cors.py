"""One cross-origin policy for every transport: GraphQL over HTTP, uploads, /files, the
event streams (SSE) and - through the same ``allows`` - the websocket Origin check.

A frontend on another origin (a Vite dev server on localhost:5173, an app on its own domain)
needs the server to say which origins may read its answers. Configured origins are exact
(``CORS_ORIGINS``) or a pattern (``CORS_ORIGIN_REGEX``); the embedded default allows any port
on localhost and 127.0.0.1, for local development, and production allows none until told.
Starlette's CORSMiddleware does the header work; preflights answer 204.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.config import Settings
from app.http.uploads import CSRF_HEADERS

#: What our clients send: bearer tokens, JSON and multipart bodies, the CSRF preflight headers
#: (Apollo's, GraphQL's), graphql-sse's stream token.
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    *CSRF_HEADERS,
    "X-GraphQL-Event-Stream-Token",
)
#: What clients read from answers: validators, ranges and names of downloads, retry hints.
EXPOSED_HEADERS = (
    "ETag",
    "Last-Modified",
    "Content-Length",
    "Content-Range",
    "Accept-Ranges",
    "Content-Disposition",
    "Retry-After",
)
#: PUT and DELETE are graphql-sse's single connection mode (reserve a stream, stop an operation).
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS")
LOCAL_DEVELOPMENT = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?"


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    origins: frozenset[str]
    pattern: re.Pattern[str] | None
    credentials: bool
    max_age: int

    @classmethod
    def from_settings(cls, settings: Settings) -> CorsPolicy:
        regex = settings.cors_origin_regex
        if regex is None:
            regex = LOCAL_DEVELOPMENT if settings.is_embedded else ""
        return cls(
            origins=frozenset(settings.cors_origins),
            pattern=re.compile(regex) if regex else None,
            credentials=settings.cors_allow_credentials,
            max_age=settings.cors_max_age,
        )

    def allows(self, origin: str) -> bool:
        """Whether a page on ``origin`` may use this server (same-origin is decided by the
        caller: it never needs permission)."""
        if "*" in self.origins or origin in self.origins:
            return True
        return self.pattern is not None and self.pattern.fullmatch(origin) is not None

    def middleware(self) -> Middleware:
        return Middleware(
            PreflightNoContent,
            allow_origins=sorted(self.origins),
            allow_origin_regex=self.pattern.pattern if self.pattern else None,
            allow_methods=METHODS,
            allow_headers=ALLOWED_HEADERS,
            allow_credentials=self.credentials,
            expose_headers=EXPOSED_HEADERS,
            max_age=self.max_age,
        )


class PreflightNoContent(CORSMiddleware):
    """Starlette's CORS middleware, with preflights that succeed answered 204 (no body).

    A POST without an Origin (a server-side client, or same-origin from an old browser) goes
    straight through: there is nothing to allow, and a POST's answer is never cached, so it
    needs no ``Vary: Origin`` either - this keeps the compiled reads' per-request cost down.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and not any(name == b"origin" for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 200:
            return response
        kept = {
            name: value
            for name, value in response.headers.items()
            if name not in {"content-length", "content-type"}
        }
        return Response(status_code=204, headers=kept)
