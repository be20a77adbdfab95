"""The span of a GraphQL operation run by Strawberry (the compiled path makes its own, in
app.http.graphql): from parsing to the result, current while the resolvers run, so their SQL
and Redis spans nest under it. Added to the schema only when tracing is on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import Status, StatusCode
from strawberry.extensions import SchemaExtension

from app.observability.tracing import Tracing, name


class OperationSpan(SchemaExtension):
    def __init__(self, *, tracing: Tracing, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tracing = tracing

    def on_operation(self) -> Iterator[None]:
        span = self.tracing.begin()
        token = context.attach(trace.set_span_in_context(span))
        try:
            yield
        finally:
            execution = self.execution_context
            try:
                kind = execution.operation_type.value
            except RuntimeError:  # the document did not parse: no operation to name
                kind = "graphql"
            name(span, kind, execution.operation_name, compiled=False)
            result = execution.result
            if result is not None and getattr(result, "errors", None):
                span.set_status(Status(StatusCode.ERROR))
            context.detach(token)
            span.end()
