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
import contextlib
import inspect
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from graphql import ExecutionResult, OperationDefinitionNode

from app.auth.viewer import Viewer
from app.observability import metrics
from schema.pacing import Pacer

#: How long an event's result waits for the members of its shape that have not taken it yet.
KEEP_SECONDS = 30.0
MAX_RESULTS = 20_000


class Shape(NamedTuple):
    """A tuple, so hashing it (once per subscriber and event) stays in C."""

    operation: int  # id() of the operation node (the document cache keeps one per text)
    variables: str
    authenticated: bool
    scopes: frozenset[str]


class Shapes:
    """One subscription's shape, re-derived only when its viewer changes (a re-check)."""

    __slots__ = ("_operation", "_shape", "_variables", "_viewer")

    def __init__(self, operation: OperationDefinitionNode, variables: dict[str, Any]) -> None:
        self._operation = id(operation)
        # Decoded: orjson's bytes keep its 4 KiB buffer, for each of ten thousand subscribers.
        self._variables = orjson.dumps(variables, default=str, option=orjson.OPT_SORT_KEYS).decode()
        self._viewer: Viewer | None = None
        self._shape: Shape | None = None

    def of(self, viewer: Viewer) -> Shape:
        if viewer is not self._viewer or self._shape is None:
            self._viewer = viewer
            self._shape = Shape(
                self._operation, self._variables, viewer.is_authenticated, viewer.scopes
            )
        return self._shape


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
        executions: asyncio.Semaphore | None,
    ) -> Any:
        future = self._future
        if future is not None and future.done() and not future.exception():
            return future.result()  # the common case: computed already, no shield needed
        while True:
            if not self._started:
                return await self._compute(compute, executions)
            assert self._future is not None
            try:
                return await asyncio.shield(self._future)
            except Recompute:
                continue

    async def _compute(
        self, compute: Callable[[], Any], executions: asyncio.Semaphore | None
    ) -> Any:
        self._started = True
        future = self._future = asyncio.get_running_loop().create_future()
        try:
            async with executions or contextlib.nullcontext():
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
    """What a subscription yields: the event's payload, where its results are shared (the
    execution's, and the response made of it: schema.subscription_stream), and what to do
    before executing it (if this subscriber is the one that does)."""

    make_payload: Callable[[], Any]
    event_id: int
    shape: Shape
    operation: OperationDefinitionNode
    response: SharedResult
    shared: SharedExecutions
    prepare: Callable[[], None] | None = None

    @property
    def payload(self) -> Any:
        """Built by the member that executes the event only: the others never read it."""
        return self.make_payload()

    @property
    def result(self) -> SharedResult:
        """The execution's slot: looked up by the member that makes the response only."""
        return self.shared._slot(self.shape, self.event_id, "result", self.operation)


class SharedExecutions:
    """Per process: the results of recent events, by shape."""

    def __init__(self, concurrency: int) -> None:
        #: At most this many executions at once, whatever the fan-out (each may need the
        #: database: the background pool has about this many connections).
        self.executions = asyncio.Semaphore(concurrency)
        #: Subscribers take turns with everything else the process does (schema.pacing).
        self.pacer = Pacer()
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
        self,
        make_payload: Callable[[], Any],
        event_id: int,
        shape: Shape,
        operation: OperationDefinitionNode,
        prepare: Callable[[], None] | None = None,
    ) -> SharedEvent:
        response = self._slot(shape, event_id, "response", operation)
        return SharedEvent(make_payload, event_id, shape, operation, response, self, prepare)

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
            if event.prepare is not None:
                event.prepare()
            return compute()

        found: ExecutionResult = await event.result.get(counting, self.executions)
        if counted[0]:
            self.executed += 1
            metrics.subscription_executions.inc()
        else:
            self.shared += 1
            metrics.subscription_results_shared.inc()
        return found

    async def response(self, event: SharedEvent, make: Callable[[], Awaitable[Any]]) -> Any:
        """The event's response for the shape: made by the first member (whose execution
        goes through `result`, and is counted there), taken by the others."""
        made = [False]

        async def making() -> Any:
            made[0] = True
            return await make()

        found = await event.response.get(making, None)  # `result` holds the semaphore
        if not made[0]:
            self.shared += 1
            metrics.subscription_results_shared.inc()
        return found
