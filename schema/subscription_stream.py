"""A subscription's response stream, with each event's final result shared by its shape.

Strawberry maps every event of every subscriber through graphql-core's per-event execution
and its own per-result work (error processing, extension results, a context manager per
extension) - about half of what a delivered event cost, even when the result itself came
from another subscriber (schema.shared_execution). Here an event's *final* result - executed,
error-coded and masked - is made once per shape, and every other member of the shape yields
that very object: per subscriber there is left its own stream's step and the frame written.

Everything before the first event (parsing under the limits, validation, the operation
extensions, the subscribe resolver with its permission check) is Strawberry's and
graphql-core's own. Events that are not shared (none today; kept for a resolver yielding a
plain payload) take graphql-core's per-event path.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.execution import Executor, create_source_event_stream, execute_subscription_event
from graphql.execution.middleware import MiddlewareManager
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import _coerce_error, _coerce_pre_execution_error
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.utils.await_maybe import await_maybe

from schema.errors import classify
from schema.shared_execution import SharedEvent


async def subscription_stream(
    schema: Any,  # schema.Schema (a cycle to import)
    execution_context: ExecutionContext,
    extensions_runner: SchemaExtensionsRunner,
    middleware_manager: MiddlewareManager,
    executor_class: type[Executor[Any]],
    operation_extensions: dict[str, Any] | None,
) -> AsyncGenerator[ExecutionResult, None]:
    async with extensions_runner.operation():
        try:
            initial_error = await schema._prepare_operation_async(
                context=execution_context, extensions_runner=extensions_runner
            )
        except (CannotGetOperationTypeError, InvalidOperationTypeError) as error:
            initial_error = PreExecutionError(
                data=None, errors=[_coerce_pre_execution_error(error)]
            )
        if initial_error:
            yield await _final(schema, execution_context, extensions_runner, initial_error)
            return
        assert execution_context.graphql_document is not None

        try:
            async with extensions_runner.executing():
                executor = executor_class.build(
                    schema._schema,
                    execution_context.graphql_document,
                    root_value=execution_context.root_value,
                    context_value=execution_context.context,
                    raw_variable_values=execution_context.variables,
                    operation_name=execution_context.operation_name,
                    middleware=middleware_manager,
                    operation_extensions=operation_extensions,
                )
                if isinstance(executor, list):  # the variables did not coerce
                    source: Any = GraphQLExecutionResult(None, errors=executor)
                else:
                    source = await await_maybe(create_source_event_stream(executor))
            if isinstance(source, GraphQLExecutionResult):  # the resolver refused, or failed
                errors = PreExecutionError(data=None, errors=source.errors)
                yield await _final(schema, execution_context, extensions_runner, errors)
                return
            assert isinstance(executor, Executor)
            try:
                async for payload in source:
                    yield await _result_of(
                        schema, executor, payload, execution_context, extensions_runner
                    )
            finally:  # closed with ours: the resolver's own `finally` unsubscribes
                close = getattr(source, "aclose", None)
                if close is not None:
                    await close()
        except Exception as exc:
            failed = GraphQLExecutionResult(data=None, errors=[_coerce_error(exc)])
            yield await _final(schema, execution_context, extensions_runner, failed)


async def _result_of(
    schema: Any,
    executor: Executor[Any],
    payload: Any,
    execution_context: ExecutionContext,
    extensions_runner: SchemaExtensionsRunner,
) -> ExecutionResult:
    async def execute() -> ExecutionResult:
        result = await await_maybe(
            execute_subscription_event(executor.build_per_event_executor(payload))
        )
        return await _final(schema, execution_context, extensions_runner, result)

    if isinstance(payload, SharedEvent):
        response: ExecutionResult = await payload.shared.response(payload, execute)
        return response
    return await execute()


async def _final(
    schema: Any,
    execution_context: ExecutionContext,
    extensions_runner: SchemaExtensionsRunner,
    result: Any,
) -> ExecutionResult:
    """Strawberry's result for a graphql-core one, coded and masked (ErrorCodes)."""
    handled: ExecutionResult = await schema._handle_execution_result(
        execution_context, result, extensions_runner
    )
    classify(handled)
    return handled
