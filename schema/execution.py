"""Execution with a deadline: a query, or one subscription event, that runs too long is
stopped and answered with OPERATION_TIMEOUT, instead of holding a connection and the CPU.
A subscription event is executed once per shape (schema.shared_execution).

Mutations are not stopped: cancelling one in the middle of its commit would leave the client
unsure whether it happened. Their work is bounded by the document limits instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from graphql import ExecutionResult, GraphQLError, OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.errors import ErrorCode
from schema.shared_execution import SharedEvent


def timed_out(seconds: float) -> GraphQLError:
    return GraphQLError(
        f"the operation took longer than {seconds:g} s and was stopped",
        extensions={"code": ErrorCode.OPERATION_TIMEOUT.value, "timeoutSeconds": seconds},
    )


def executor_with_deadline(seconds: float) -> type[StrawberryGraphQLCoreExecutionContext]:
    class DeadlineExecutor(StrawberryGraphQLCoreExecutionContext):
        def execute_operation(self, serially: bool | None = None) -> Any:
            if isinstance(self.root_value, SharedEvent):  # a subscription event: see there
                shared = self.root_value
                self.root_value = shared.payload
                return shared.shared.result(shared, lambda: self._execute(serially))
            return self._execute(serially)

        def _execute(self, serially: bool | None) -> Any:
            result = super().execute_operation(serially)
            if self.operation.operation is OperationType.MUTATION or not self.is_awaitable(result):
                return result
            return self._within_deadline(result)

        async def _within_deadline(self, result: Awaitable[Any]) -> Any:
            try:
                async with asyncio.timeout(seconds) as deadline:
                    return await result
            except TimeoutError:
                if not deadline.expired():
                    raise
                return ExecutionResult(data=None, errors=[timed_out(seconds)])

    return DeadlineExecutor
