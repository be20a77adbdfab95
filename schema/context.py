"""What every resolver can reach: the request, services, settings, loaders and the viewer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from strawberry.extensions import SchemaExtension
from strawberry.types import Info as StrawberryInfo

from app.auth.authenticator import Authenticator
from app.auth.tokens import bearer_token
from app.auth.viewer import Viewer
from app.config import Settings
from app.container import Services
from app.db.database import Database
from app.shared_tasks import shared
from app.storage.files import Files
from schema.errors import Unauthenticated
from schema.loaders import Loaders

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.websockets import WebSocket

WS_RECHECK = 1.0  # seconds


@dataclass
class Context:
    request: Request | WebSocket
    response: Any
    services: Services
    #: graphql-transport-ws / graphql-ws put the connection_init payload here.
    connection_params: dict[str, Any] | None = None
    #: A long-lived HTTP request (an event stream): its session is re-checked as a
    #: websocket's is, not resolved once for good.
    long_lived: bool = False
    #: An event stream's Last-Event-ID: subscriptions without `after` resume after it.
    resume_after: str | None = None
    _loaders: Loaders | None = field(default=None, init=False)
    _viewer: asyncio.Future[Viewer | None] | None = field(default=None, init=False)
    _ws_checked: tuple[float, Viewer | None] | None = field(default=None, init=False)
    _connection: Context | None = field(default=None, init=False)

    @property
    def loaders(self) -> Loaders:
        """Made on first use: ten thousand idle subscriptions hold none (an event's are made
        for the one subscriber that executes it)."""
        if self._loaders is None:
            self._loaders = Loaders(self.services.db, self.services.cache)
        return self._loaders

    @loaders.setter
    def loaders(self, loaders: Loaders) -> None:
        self._loaders = loaders

    def for_operation(self) -> Context:
        """A context of its own for one operation on a websocket: fresh loaders (no caching
        across operations of a long-lived connection), the same connection otherwise."""
        context = Context(
            request=self.request,
            response=self.response,
            services=self.services,
            connection_params=self.connection_params,
        )
        context._connection = self
        return context

    def known_viewer(self, viewer: Viewer | None) -> None:
        """The viewer for this request's token, already looked up (by the compiled path)."""
        future: asyncio.Future[Viewer | None] = asyncio.get_running_loop().create_future()
        future.set_result(viewer)
        self._viewer = future

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def auth(self) -> Authenticator:
        return self.services.auth

    @property
    def files(self) -> Files:
        return self.services.files

    def token(self) -> str | None:
        if self.request.scope["type"] == "websocket":
            params = self.connection_params or {}
            return bearer_token(
                params.get("token") or params.get("Authorization") or params.get("authorization")
            )
        return bearer_token(self.request.headers.get("authorization"))

    @property
    def client_address(self) -> str:
        client = self.request.client
        return client.host if client else "unknown"

    async def viewer(self) -> Viewer:
        """Who is asking: resolved once per HTTP request, however many resolvers ask at once.

        A websocket connection (or an event stream) re-checks its session at most once per
        ``WS_RECHECK`` seconds (shared by all its operations): a revoked session or a lost
        scope stops within that time, without one session lookup per subscriber per event.
        """
        if self._connection is not None:
            return await self._connection.viewer()
        if self.long_lived or self.request.scope["type"] != "http":
            now = time.monotonic()
            if self._ws_checked is None or now - self._ws_checked[0] > WS_RECHECK:
                # The viewer cache is as fresh as a re-check needs (entries live at most
                # WS_RECHECK, and changes evict them at once), and shared: a thousand
                # subscribers with one token cost one lookup, not a thousand.
                fresh = self.settings.viewer_cache_seconds > WS_RECHECK
                viewer = await self.auth.viewer(self.token(), fresh=fresh, background=True)
                self._ws_checked = (now, viewer)
            found = self._ws_checked[1]
        else:
            if self._viewer is None:
                self._viewer = shared(self.auth.viewer(self.token()))
            found = await asyncio.shield(self._viewer)
        if found is None:
            raise Unauthenticated("the session token is invalid or has expired; sign in again")
        return found


class OperationContext(SchemaExtension):
    """Websocket operations share one connection context; give each its own loaders."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context) and context.request.scope["type"] == "websocket":
            self.execution_context.context = context.for_operation()
        yield


Info: TypeAlias = StrawberryInfo[Context, None]
