"""Composition root: builds the Starlette application and wires its lifespan."""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from app.auth.bootstrap import bootstrap
from app.config import Settings, StorageBackend, load_settings
from app.container import build_services
from app.http.errors import http_exception, internal_error
from app.http.fast_reads import GRAPHQL_PATH, CompiledReadsMiddleware
from app.http.favicon import favicon
from app.http.files import serve_file
from app.http.graphiql import GRAPHIQL_ASSETS_DIR
from app.http.graphql import GRAPHIQL_ASSETS_PREFIX, GraphQLEndpoint
from app.http.health import healthz, readyz
from app.http.metrics import metrics
from app.http.request_log import RequestLog
from app.observability import context
from app.observability import metrics as series
from schema import build_schema

logger = logging.getLogger("contentgraph")
EVENT_STREAMS_PATH = GRAPHQL_PATH + "/stream"
EVENT_STREAM_METHODS = ["GET", "POST", "PUT", "DELETE"]
GC_THRESHOLDS = (700, 10, 100)


def announce_first_admin(username: str, password: str) -> None:
    """Printed, not logged: the one time this password is shown, and never to a log sink."""
    print(
        "\n"
        "  contentgraph created the first user.\n"
        f"    username: {username}\n"
        f"    password: {password}\n"
        "  It is shown only now. Sign in with the login mutation and change it.\n",
        file=sys.stderr,
        flush=True,
    )


class Server(Starlette):
    def build_middleware_stack(self) -> ASGIApp:
        """The request log around everything, Starlette's error middleware included: it sees
        (and stamps its id on) the 500 that middleware answers, and the error behind it."""
        return RequestLog(super().build_middleware_stack())


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    context.stamp_log_records()
    series.initialise()
    services = build_services(settings)
    graphql = GraphQLEndpoint(services=services, schema=build_schema(settings, services.tracing))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.storage_backend is StorageBackend.LOCAL:
            settings.files_root.mkdir(parents=True, exist_ok=True)
        created = await bootstrap(
            services.db, services.auth.passwords, first_admin=settings.is_embedded
        )
        if created is not None:
            announce_first_admin(created.user.username, created.password)
        await services.start()
        # Everything built so far (schema, models, routes) lives as long as the process: move
        # it out of the collector's way, so full collections stay short under load.
        gc.freeze()
        # And make full collections rarer: each request leaves thousands of objects behind
        # (documents in the parse cache among them), and a full collection - 30 ms and more
        # on the 2-core development machine - landed every few dozen requests. Young
        # collections stay as they are (small and frequent is what keeps them short).
        # bench/hostile.py, slowest check of a hostile document: 71-97 ms with a 50,000
        # young-generation threshold, 44-48 ms with this.
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            yield
        finally:
            await services.close()
            series.process_exit()

    app = Server(
        # Outermost first. The compiled reads' front door is innermost: CORS (and whatever
        # else is added here) applies to its answers as to every other.
        middleware=[
            graphql.cors.middleware(),
            Middleware(CompiledReadsMiddleware, endpoint=graphql),
        ],
        routes=[
            Route(GRAPHQL_PATH, graphql, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            WebSocketRoute(GRAPHQL_PATH, graphql),
            Route(EVENT_STREAMS_PATH, graphql.event_streams, methods=EVENT_STREAM_METHODS),
            Mount(
                GRAPHIQL_ASSETS_PREFIX,
                StaticFiles(directory=GRAPHIQL_ASSETS_DIR),
                name="graphiql-assets",
            ),
            Route("/files/{entity}/{file_id}/{filename}", serve_file, methods=["GET", "HEAD"]),
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/readyz", readyz, methods=["GET", "HEAD"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/favicon.ico", favicon, methods=["GET", "HEAD"]),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_exception, Exception: internal_error},
    )
    app.state.settings = settings
    app.state.db = services.db
    app.state.services = services
    app.state.graphql = graphql
    return app
