"""Tracing, when an OTLP endpoint is configured: a span per GraphQL operation, with the SQL
statements and Redis calls it made under it.

Off by default, and then free: no tracer provider is made, no driver is patched, no
extension runs (``tracing_for`` returns None and every caller skips its span). On, the
asyncpg and redis-py instrumentations of OpenTelemetry's contrib packages patch the drivers
for the process, so every statement - the resolvers' through SQLAlchemy and the compiled
path's own connections alike - and every Redis command becomes a child of the operation
span current in its task. Spans leave in batches, off the request's path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind

from app.config import Settings

TRACER_NAME = "contentgraph"


def span_processor(settings: Settings) -> SpanProcessor:
    """Where finished spans go: the OTLP/HTTP endpoint, in batches."""
    return BatchSpanProcessor(
        OTLPSpanExporter(endpoint=settings.otel_exporter_otlp_traces_endpoint)
    )


class Tracing:
    def __init__(self, settings: Settings) -> None:
        resource = Resource.create({SERVICE_NAME: settings.otel_service_name})
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(span_processor(settings))
        self.tracer = self.provider.get_tracer(TRACER_NAME)
        self._instrumented = False

    def start(self) -> None:
        """Patch the drivers (process-wide; once)."""
        if not self._instrumented:
            AsyncPGInstrumentor().instrument(tracer_provider=self.provider)  # type: ignore[no-untyped-call]
            RedisInstrumentor().instrument(tracer_provider=self.provider)
            self._instrumented = True

    def close(self) -> None:
        if self._instrumented:
            AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
            RedisInstrumentor().uninstrument()
            self._instrumented = False
        self.provider.shutdown()  # flushes what is still batched

    def begin(self) -> Span:
        """An operation's span, named once its type and name are known (``name``)."""
        return self.tracer.start_span("graphql.operation", kind=SpanKind.SERVER)

    @contextlib.contextmanager
    def operation(
        self, operation_type: str, operation_name: str | None, **facts: object
    ) -> Iterator[Span]:
        """A span around an operation whose type and name are known up front (the compiled
        path's), current for the statements it runs."""
        with self.tracer.start_as_current_span(
            span_name(operation_type, operation_name), kind=SpanKind.SERVER
        ) as span:
            name(span, operation_type, operation_name, **facts)
            yield span


def span_name(operation_type: str, operation_name: str | None) -> str:
    """OpenTelemetry's GraphQL convention: ``{type} {name}``, the type alone when anonymous."""
    return f"{operation_type} {operation_name}" if operation_name else operation_type


def name(span: Span, operation_type: str, operation_name: str | None, **facts: object) -> None:
    span.update_name(span_name(operation_type, operation_name))
    span.set_attribute("graphql.operation.type", operation_type)
    if operation_name:
        span.set_attribute("graphql.operation.name", operation_name)
    for key, value in facts.items():
        span.set_attribute(
            f"contentgraph.{key}",
            str(value) if not isinstance(value, (bool, int, float, str)) else value,
        )


def tracing_for(settings: Settings) -> Tracing | None:
    """Tracing when an endpoint is set; None (no cost at all) otherwise."""
    if not settings.otel_exporter_otlp_traces_endpoint:
        return None
    return Tracing(settings)
