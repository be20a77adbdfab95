"""Tracing: a span per operation, with its SQL statements and Redis calls under it - and
nothing at all when no endpoint is set. Spans are caught with the SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from app.config import Settings
from app.observability import tracing
from app.server import create_app
from schema.ids import to_global_id
from tests.conftest import user_token
from tests.factories import contact_with_avatar

COMPILED = "query Listed { contacts(first: 5) { nodes { name avatar { filename } } } }"
#: By id, through the loaders and so the row cache (Redis).
RESOLVED = "query Editable($id: ID!) { contact(id: $id) { name viewerCanEdit } }"


@pytest.fixture
async def traced(
    backend_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Starlette, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    monkeypatch.setattr(tracing, "span_processor", lambda _: SimpleSpanProcessor(exporter))
    settings = backend_settings.model_copy(
        update={"otel_exporter_otlp_traces_endpoint": "http://collector.invalid:4318/v1/traces"}
    )
    application = create_app(settings)
    services = application.state.services
    services.tracing.start()
    try:
        yield application, exporter
    finally:
        services.tracing.close()
        await application.state.db.dispose()
        if services.redis is not None:
            await services.redis.aclose()


def children(spans: tuple[ReadableSpan, ...], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def databases(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if (s.attributes or {}).get("db.system") == "postgresql"]


async def post(app: Starlette, query: str, token: str, **variables: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )


async def test_an_operation_is_one_span_with_its_sql_and_redis_calls_under_it(
    traced: tuple[Starlette, InMemorySpanExporter], backend_settings: Settings
) -> None:
    app, exporter = traced
    ada = await contact_with_avatar(app, "Ada")
    token = await user_token(app, "tracer", "admin")
    exporter.clear()

    response = await post(app, RESOLVED, token, id=to_global_id("Contact", ada.id))
    assert response.json()["data"]["contact"]["name"] == "Ada"
    spans = exporter.get_finished_spans()
    (operation,) = [s for s in spans if s.name == "query Editable"]
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.type"] == "query"
    assert operation.attributes["contentgraph.compiled"] is False
    below = children(spans, operation)
    if backend_settings.is_sqlite:
        return  # SQLite has no driver spans; the operation span is still there
    assert databases(below), [s.name for s in spans]  # the page's SELECT, under the operation
    assert any((s.attributes or {}).get("db.system") == "redis" for s in below)  # row cache

    exporter.clear()
    response = await post(app, COMPILED, token)
    assert response.json()["data"]["contacts"]["nodes"][0]["avatar"]["filename"]
    spans = exporter.get_finished_spans()
    (operation,) = [s for s in spans if s.name == "query Listed"]
    assert operation.attributes is not None
    assert operation.attributes["contentgraph.compiled"] is True
    (statement,) = databases(children(spans, operation))  # one statement: the compiled one
    assert "json_build_object" in str((statement.attributes or {}).get("db.statement"))


async def test_without_an_endpoint_nothing_is_traced_or_patched(app: Starlette) -> None:
    assert app.state.settings.otel_exporter_otlp_traces_endpoint == ""
    assert app.state.services.tracing is None
    extensions = app.state.graphql.schema.extensions
    assert not [e for e in extensions if "OperationSpan" in repr(e)]
    # The drivers are as asyncpg and redis-py ship them: no wrapper on the hot calls.
    assert not hasattr(asyncpg.connection.Connection.fetchval, "__wrapped__")
