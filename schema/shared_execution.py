"""One execution per event and shape: subscribers asking the same thing see the same result.

A subscription event's result depends on the operation (its document, operation and
variables), on the event, and on what the viewer may see - the permission-relevant facts:
whether they are signed in and their scopes. No resolver reachable from an event reads more
of the viewer than that (`schema.permissions`). Subscribers for which all of these are equal
form a *shape*; for each event, the first of them to get there executes the selection, and
every other one takes its result instead of executing again. Per subscriber there is left
the cheap part: its session and scopes re-checked (from the viewer cache), and the frame
written to its socket.

Each subscription yields a `SharedEvent`; the executor (`schema.execution`) recognises it
and answers with the shape's result. Results are kept for a short while, enough for every
member of the shape to pick them up from its queue.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import ExecutionResult, OperationDefinitionNode

from app.auth.viewer import Viewer

#: How long an event's result waits for the members of its shape that have not taken it yet.
KEEP_SECONDS = 30.0
MAX_RESULTS = 20_000


@dataclass(frozen=True, slots=True)
class Shape:
    operation: int  # id() of the operation node (the document cache keeps one per text)
    variables: bytes
    authenticated: bool
    scopes: frozenset[str]


def shape_of(
    operation: OperationDefinitionNode, variables: dict[str, Any], viewer: Viewer
) -> Shape:
    return Shape(
        id(operation),
        orjson.dumps(variables, default=str, option=orjson.OPT_SORT_KEYS),
        viewer.is_authenticated,
        viewer.scopes,
    )


class Recompute(Exception):
    """The subscriber executing for the shape went away before it finished: execute anew."""


class SharedResult:
    """One event's result for one shape (or another answer for it, such as whether the event's
    node passes the shape's filter): computed by the first member that asks."""

    __slots__ = ("_future", "_started", "born", "operation")

    def __init__(self, operation: OperationDefinitionNode) -> None:
        self.operation = operation  # keeps the node (and so its id) alive while shared
        self.born = time.monotonic()
        self._future: asyncio.Future[Any] | None = None
        self._started = False

    async def get(
        self,
        compute: Callable[[], Any],
        executions: asyncio.Semaphore,
    ) -> Any:
        while True:
            if not self._started:
                return await self._compute(compute, executions)
            assert self._future is not None
            try:
                return await asyncio.shield(self._future)
            except Recompute:
                continue

    async def _compute(self, compute: Callable[[], Any], executions: asyncio.Semaphore) -> Any:
        self._started = True
        future = self._future = asyncio.get_running_loop().create_future()
        try:
            async with executions:
                result = compute()
                if inspect.isawaitable(result):
                    result = await result
        except BaseException as error:
            self._started = False
            future.set_exception(
                Recompute() if isinstance(error, asyncio.CancelledError) else error
            )
            future.exception()  # retrieved: waiters re-raise it themselves
            raise
        future.set_result(result)
        return result


@dataclass(slots=True)
class SharedEvent:
    """What a subscription yields: the event's payload, and where its result is shared."""

    payload: Any
    result: SharedResult
    shared: SharedExecutions


class SharedExecutions:
    """Per process: the results of recent events, by shape."""

    def __init__(self, concurrency: int) -> None:
        #: At most this many executions at once, whatever the fan-out (each may need the
        #: database: the background pool has about this many connections).
        self.executions = asyncio.Semaphore(concurrency)
        self._results: OrderedDict[tuple[Shape, int, str], SharedResult] = OrderedDict()
        self.executed = 0
        self.shared = 0

    def _slot(
        self, shape: Shape, event_id: int, what: str, operation: OperationDefinitionNode
    ) -> SharedResult:
        key = (shape, event_id, what)
        result = self._results.get(key)
        if result is None:
            self._expire()
            result = self._results[key] = SharedResult(operation)
        return result

    def event(
        self, payload: Any, event_id: int, shape: Shape, operation: OperationDefinitionNode
    ) -> SharedEvent:
        return SharedEvent(payload, self._slot(shape, event_id, "result", operation), self)

    async def once(
        self,
        what: str,
        event_id: int,
        shape: Shape,
        operation: OperationDefinitionNode,
        compute: Callable[[], Awaitable[Any]],
    ) -> Any:
        """Something else the members of a shape need per event, found once for all."""
        return await self._slot(shape, event_id, what, operation).get(compute, self.executions)

    def _expire(self) -> None:
        cutoff = time.monotonic() - KEEP_SECONDS
        while self._results:
            key, oldest = next(iter(self._results.items()))
            if oldest.born > cutoff and len(self._results) < MAX_RESULTS:
                return
            del self._results[key]

    async def result(
        self,
        event: SharedEvent,
        compute: Callable[[], ExecutionResult | Awaitable[ExecutionResult]],
    ) -> ExecutionResult:
        counted = [False]

        def counting() -> ExecutionResult | Awaitable[ExecutionResult]:
            counted[0] = True
            return compute()

        found: ExecutionResult = await event.result.get(counting, self.executions)
        if counted[0]:
            self.executed += 1
        else:
            self.shared += 1
        return found
