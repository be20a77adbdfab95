"""Subscriptions never take a database connection a request is waiting for: their events
load, and their sessions are re-checked, through the background pool - even with every
connection of the requests' pool held."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.applications import Starlette

from app.db.models import Album
from schema.loaders import Loaders
from tests.conftest import user_token


@contextlib.asynccontextmanager
async def requests_pool_exhausted(app: Starlette) -> AsyncIterator[None]:
    """Hold every connection the requests' pool can give."""
    engine = app.state.db.engine
    held: list[AsyncConnection] = []
    try:
        while True:
            try:
                connection = await asyncio.wait_for(engine.connect(), 0.5)
            except TimeoutError:
                break
            await connection.execute(text("SELECT 1"))
            held.append(connection)
        assert held, "the requests' pool gave no connection at all"
        yield
    finally:
        for connection in held:
            await connection.close()


async def test_event_loads_and_session_rechecks_use_the_background_pool(app: Starlette) -> None:
    services = app.state.services
    token = await user_token(app, f"bg{uuid.uuid4().hex[:8]}")
    album_id = uuid.uuid4()
    async with app.state.db.session() as session, session.begin():
        session.add(Album(id=album_id, title="Background"))
    services.auth.viewers.clear()

    async with requests_pool_exhausted(app):
        viewer = await asyncio.wait_for(services.auth.viewer(token, background=True), 5)
        assert viewer is not None
        loaders = Loaders(app.state.db, services.cache, background=True)
        album = await asyncio.wait_for(loaders.album.load(album_id), 5)
        assert album is not None and album.title == "Background"
        # The same work on the requests' pool waits: the held pool is really exhausted.
        services.auth.viewers.clear()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(services.auth.viewer(token), 1)
