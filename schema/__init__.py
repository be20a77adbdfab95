"""The GraphQL face of contentgraph: Strawberry types over the services."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from graphql import GraphQLError, OperationType, get_operation_ast
from graphql.execution.middleware import MiddlewareManager
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext
from strawberry.types.execution import PreExecutionError

from app.config import Settings
from app.observability.tracing import Tracing
from schema.context import OperationContext
from schema.enums import list_enum_values_on_refusal
from schema.errors import ErrorCodes
from schema.execution import executor_with_deadline
from schema.limits import DocumentGuard, Documents, Limits
from schema.mutations.albums import AlbumMutations
from schema.mutations.auth import AuthMutations
from schema.mutations.contacts import ContactMutations
from schema.mutations.files import FileMutations
from schema.mutations.roles import RoleMutations
from schema.mutations.users import UserMutations
from schema.observability import OperationMetrics
from schema.queries import Query as ContentQueries
from schema.queries_users import UserQueries
from schema.scalars import SCALAR_MAP
from schema.shared_execution import SharedExecutions
from schema.subscription_stream import subscription_stream
from schema.subscriptions import Subscription
from schema.tracing import OperationSpan
from schema.types.album import Album
from schema.types.contact import Contact
from schema.types.photo import Photo
from schema.types.stored_file import StoredFile
from schema.types.user import Role, User


@strawberry.type
class Query(ContentQueries, UserQueries):
    pass


@strawberry.type
class Mutation(
    AuthMutations, ContactMutations, AlbumMutations, FileMutations, UserMutations, RoleMutations
):
    pass


class Schema(strawberry.Schema):
    #: Parsing and validation under the limits, shared with the compiled read path.
    documents: Documents
    #: Subscription events executed once per shape.
    shared_executions: SharedExecutions

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Client mistakes are not server errors: ErrorCodes logs only the unexpected ones."""

    async def _prepare_operation_async(
        self, context: ExecutionContext, extensions_runner: SchemaExtensionsRunner
    ) -> PreExecutionError | None:
        """Parse under the limits (and from the cache) before Strawberry's parse step, which
        then finds the document made. Strawberry reports an error raised here as a result on
        every transport; one raised from an extension's parse hook escapes its websocket
        path."""
        if context.graphql_document is None and context.query:
            try:
                context.graphql_document = self.documents.parse(context.query)
            except GraphQLError as error:
                context.pre_execution_errors = [error]
                return PreExecutionError(data=None, errors=[error])
        return await super()._prepare_operation_async(context, extensions_runner)

    def _stream(
        self,
        execution_context: ExecutionContext,
        extensions_runner: SchemaExtensionsRunner,
        middleware_manager: MiddlewareManager,
        execution_context_class: type[Any] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> AsyncGenerator[Any, None]:
        """Subscriptions stream through schema.subscription_stream (one response per event
        and shape); queries and mutations over a streaming transport as Strawberry does."""
        if _is_subscription(self, execution_context) and execution_context_class is not None:
            return subscription_stream(
                self,
                execution_context,
                extensions_runner,
                middleware_manager,
                execution_context_class,
                operation_extensions,
            )
        return super()._stream(
            execution_context,
            extensions_runner,
            middleware_manager,
            execution_context_class,
            operation_extensions,
        )


def _is_subscription(schema: Schema, context: ExecutionContext) -> bool:
    """From the parsed document (the parse cache's; a document that does not parse is
    Strawberry's to answer)."""
    if not context.query:
        return False
    try:
        document = schema.documents.parse(context.query)
    except GraphQLError:
        return False
    operation = get_operation_ast(document, context.operation_name)
    return operation is not None and operation.operation is OperationType.SUBSCRIPTION


def build_schema(settings: Settings, tracing: Tracing | None = None) -> Schema:
    documents: Documents | None = None

    def guard() -> DocumentGuard:
        assert documents is not None
        return DocumentGuard(documents)

    extensions: list[Any] = [OperationMetrics, OperationContext, ErrorCodes, guard]
    if tracing is not None:
        extensions.insert(0, lambda: OperationSpan(tracing=tracing))

    schema = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Contact, Album, Photo, StoredFile, User, Role],
        config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALAR_MAP),
        execution_context_class=executor_with_deadline(settings.operation_timeout_seconds),
        extensions=extensions,
    )
    list_enum_values_on_refusal(schema._schema)
    documents = schema.documents = Documents(schema._schema, Limits.from_settings(settings))
    schema.shared_executions = SharedExecutions(concurrency=settings.background_pool_size * 2)
    return schema


def sdl(settings: Settings) -> str:
    """The schema in SDL, as ``contentgraph schema`` prints it and schema.graphql keeps it."""
    return build_schema(settings).as_str() + "\n"
