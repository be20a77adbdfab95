"""The Strawberry side of the document limits: validation through the shared cache, then the
node limit with this request's variables - for queries, mutations and subscriptions alike.

(Parsing happens in schema.Schema, before Strawberry's own parse step: an error raised from
an extension's parse hook escapes Strawberry's streaming path and drops the websocket.)
"""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from schema.limits.documents import Documents


class DocumentGuard(SchemaExtension):
    def __init__(self, documents: Documents) -> None:
        self.documents = documents

    def on_validate(self) -> Iterator[None]:
        # Done before yielding: Strawberry decides whether to execute between the hooks'
        # two halves, so errors found after the yield would come too late.
        context = self.execution_context
        document, query = context.graphql_document, context.query
        if context.pre_execution_errors is None and document is not None and query is not None:
            errors = self.documents.validate(query)
            if not errors:
                variables = context.variables if isinstance(context.variables, dict) else {}
                errors = self.documents.node_errors(document, context.operation_name, variables)
            context.pre_execution_errors = errors
        yield
