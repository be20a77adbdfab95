"""Queries and subscription events run under OPERATION_TIMEOUT_SECONDS; mutations run to their
end (cancelling one mid-commit would leave the client unsure whether it happened)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.config import Settings
from app.server import create_app
from app.services import contacts
from schema.pagination import QuerySource
from tests.conftest import as_admin, client_address

DEADLINE = 0.5


@pytest.fixture
async def impatient(app: Starlette, backend_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The test app's database, with a half-second deadline."""
    hurried = create_app(
        backend_settings.model_copy(update={"operation_timeout_seconds": DEADLINE})
    )
    transport = httpx.ASGITransport(app=hurried, client=(client_address(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        await as_admin(hurried, http)
        yield http
    await hurried.state.services.close()


async def test_a_query_past_the_deadline_is_stopped_with_its_own_code(
    impatient: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def slow_page(self: Any) -> Any:
        await asyncio.sleep(30)

    monkeypatch.setattr(QuerySource, "_fetch", slow_page)
    started = asyncio.get_running_loop().time()
    response = await impatient.post(
        "/graphql",
        # viewerCanEdit keeps it off the compiled path, on the resolvers being timed
        json={"query": "{ contacts { nodes { id viewerCanEdit } } }"},
        headers={"Accept": "application/graphql-response+json"},
    )
    assert asyncio.get_running_loop().time() - started < 5
    # Execution began: 200 with data null, as GraphQL over HTTP has it for a null result.
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "OPERATION_TIMEOUT", "timeoutSeconds": DEADLINE}


async def test_a_mutation_is_never_cut_short(
    impatient: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    create = contacts.create_contact

    async def slow_create(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(DEADLINE * 2)
        return await create(*args, **kwargs)

    monkeypatch.setattr(contacts, "create_contact", slow_create)
    response = await impatient.post(
        "/graphql",
        json={"query": 'mutation { createContact(input: {name: "Late"}) { contact { name } } }'},
    )
    assert response.json() == {"data": {"createContact": {"contact": {"name": "Late"}}}}
