"""Composition root: builds the Starlette application and wires its lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from app.config import Settings, load_settings
from app.db.database import Database
from app.http.graphiql import GRAPHIQL_ASSETS_DIR
from app.http.graphql import GRAPHIQL_ASSETS_PREFIX, GraphQLEndpoint
from app.http.health import healthz, readyz
from schema import build_schema


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    db = Database(settings)
    graphql = GraphQLEndpoint(db=db, settings=settings, schema=build_schema(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.files_root.mkdir(parents=True, exist_ok=True)
        try:
            yield
        finally:
            await db.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            Mount(
                GRAPHIQL_ASSETS_PREFIX,
                StaticFiles(directory=GRAPHIQL_ASSETS_DIR),
                name="graphiql-assets",
            ),
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/readyz", readyz, methods=["GET", "HEAD"]),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    return app
