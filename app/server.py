"""Composition root: builds the Starlette application and wires its lifespan."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from app.auth.authenticator import Authenticator
from app.auth.bootstrap import bootstrap
from app.auth.passwords import Passwords
from app.config import Settings, load_settings
from app.db.database import Database
from app.http.graphiql import GRAPHIQL_ASSETS_DIR
from app.http.graphql import GRAPHIQL_ASSETS_PREFIX, GraphQLEndpoint
from app.http.health import healthz, readyz
from app.kv import connection
from app.kv.attempts import AttemptCounter, MemoryAttemptCounter, RedisAttemptCounter
from app.kv.sessions import MemorySessionStore, RedisSessionStore, SessionStore
from schema import build_schema

logger = logging.getLogger("contentgraph")


@dataclass
class Services:
    """Everything a request may need, built once per process."""

    settings: Settings
    db: Database
    redis: Redis | None
    auth: Authenticator

    async def close(self) -> None:
        await self.db.dispose()
        if self.redis is not None:
            await self.redis.aclose()


def build_services(settings: Settings) -> Services:
    db = Database(settings)
    redis = connection.connect(settings)
    sessions: SessionStore
    attempts: AttemptCounter
    idle, lifetime = settings.session_idle_seconds, settings.session_lifetime_seconds
    if redis is None:
        sessions = MemorySessionStore(idle=idle, lifetime=lifetime)
        attempts = MemoryAttemptCounter(window=settings.login_window_seconds)
    else:
        sessions = RedisSessionStore(redis, settings.redis_prefix, idle=idle, lifetime=lifetime)
        attempts = RedisAttemptCounter(
            redis, settings.redis_prefix, window=settings.login_window_seconds
        )
    passwords = Passwords(
        time_cost=settings.password_time_cost, memory_kib=settings.password_memory_kib
    )
    auth = Authenticator(
        db=db, settings=settings, sessions=sessions, attempts=attempts, passwords=passwords
    )
    return Services(settings=settings, db=db, redis=redis, auth=auth)


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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    services = build_services(settings)
    graphql = GraphQLEndpoint(
        db=services.db, settings=settings, auth=services.auth, schema=build_schema(settings)
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.files_root.mkdir(parents=True, exist_ok=True)
        created = await bootstrap(
            services.db, services.auth.passwords, first_admin=settings.is_embedded
        )
        if created is not None:
            announce_first_admin(created.user.username, created.password)
        try:
            yield
        finally:
            await services.close()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            WebSocketRoute("/graphql", graphql),
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
    app.state.db = services.db
    app.state.services = services
    return app
