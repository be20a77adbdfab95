"""Every metric the server exports, defined once (prometheus_client).

Labels are bounded sets, never names or ids a client chooses: a transport, an operation type,
an error code, a row kind, a pool, a reason. With ``serve --workers N`` (N > 1) each worker
writes its values to files under PROMETHEUS_MULTIPROC_DIR (app.observability.multiprocess
makes a fresh directory per start) and ``GET /metrics``, whichever worker answers it, sums
every worker's: counters and histograms add up, the gauges below say how they combine
(``livesum``: the sum over the workers alive; ``livemax``: the largest).

The series (``_total`` counters, ``_seconds`` histograms, the rest gauges):

- ``contentgraph_graphql_requests_total{transport,operation,code}``: GraphQL operations by
  transport (``http``, ``websocket``, ``sse``), operation type (``query``, ``mutation``,
  ``subscription``, ``none`` when refused before one was known) and outcome (``OK`` or the
  ``extensions.code`` of the first error; an HTTP refusal's code). A subscription counts once,
  when it ends.
- ``contentgraph_graphql_request_duration_seconds{transport,operation}``: their latency
  (queries and mutations: a subscription's lifetime is not a latency).
- ``contentgraph_compiled_reads_total``, ``contentgraph_resolver_reads_total``: queries
  answered by one compiled statement, and by the resolvers;
  ``contentgraph_compiled_read_failures_total``: compiled reads that failed and were answered
  by the resolvers instead.
- ``contentgraph_row_cache_lookups_total{kind,result}``: by-id reads of the row cache,
  ``hit`` or ``miss``, by row kind.
- ``contentgraph_upload_bytes_total``, ``contentgraph_upload_files_total``: file bytes
  received and files received whole; ``contentgraph_upload_refusals_total{reason}``
  (``too_large``, ``malformed``, ``csrf``, ``storage``).
- ``contentgraph_websocket_connections``, ``contentgraph_sse_connections``: open now;
  ``contentgraph_subscriptions``: live subscriptions (livesum).
- ``contentgraph_events_published_total``: events relayed from the outbox to the event log;
  ``contentgraph_events_delivered_total``: events handed to a subscriber (one per
  subscriber); ``contentgraph_events_dropped_total{reason}``: ``slow_subscriber`` (dropped
  for not keeping up; it resumes where it was) and ``stream_backlog`` (an SSE operation
  stopped, its stream's backlog full); ``contentgraph_event_position``: the last event id
  delivered (livemax).
- ``contentgraph_subscription_executions_total``,
  ``contentgraph_subscription_results_shared_total``: subscription events executed (one per
  event and shape) and answered with another subscriber's result.
- ``contentgraph_db_connections_in_use{pool}``, ``contentgraph_db_connections_waiting{pool}``:
  database connections checked out, and callers waiting for one (queued, or while it opens),
  for the ``requests``, ``background`` and ``compiled`` pools (livesum).
- ``contentgraph_sql_statements_total``: SQL statements sent (no transaction control).
- ``contentgraph_redis_errors_total{kind}``: Redis calls that failed (``error``), timed out
  (``timeout``) or were not made because the circuit breaker was open (``circuit_open``);
  ``contentgraph_redis_outages_total``: times the breaker opened;
  ``contentgraph_redis_circuit_open``: 1 while it is open (livemax).
"""

from __future__ import annotations

import bisect
import contextlib
import glob
import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE

from app.observability.multiprocess import MULTIPROC_ENV

# `_created` timestamps double the series and mean nothing summed over workers.
disable_created_metrics()  # type: ignore[no-untyped-call]

TRANSPORTS = ("http", "websocket", "sse")
OPERATION_TYPES = ("query", "mutation", "subscription", "none")
OK = "OK"
#: Latency buckets, seconds: a compiled read takes about a millisecond, the deadline is ten.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROW_KINDS = ("contact", "album", "photo", "file", "user", "role")
UPLOAD_REFUSALS = ("too_large", "malformed", "csrf", "storage")
DROP_REASONS = ("slow_subscriber", "stream_backlog")
POOLS = ("requests", "background", "compiled")
REDIS_ERRORS = ("error", "timeout", "circuit_open")

requests = Counter(
    "contentgraph_graphql_requests",
    "GraphQL operations by transport, operation type and outcome (OK or the error code).",
    ["transport", "operation", "code"],
)
request_duration = Histogram(
    "contentgraph_graphql_request_duration_seconds",
    "Time to answer a GraphQL query or mutation.",
    ["transport", "operation"],
    buckets=LATENCY_BUCKETS,
)
compiled_reads = Counter(
    "contentgraph_compiled_reads", "Queries answered by one compiled statement."
)
compiled_read_failures = Counter(
    "contentgraph_compiled_read_failures",
    "Compiled reads that failed and were answered by the resolvers instead.",
)
resolver_reads = Counter("contentgraph_resolver_reads", "Queries answered by the resolvers.")
row_cache_lookups = Counter(
    "contentgraph_row_cache_lookups",
    "Rows looked up in the row cache, by kind and result (hit or miss).",
    ["kind", "result"],
)
upload_bytes = Counter("contentgraph_upload_bytes", "File bytes received in uploads.")
upload_files = Counter("contentgraph_upload_files", "Files received whole in uploads.")
upload_refusals = Counter(
    "contentgraph_upload_refusals", "Upload requests refused, by reason.", ["reason"]
)
websocket_connections = Gauge(
    "contentgraph_websocket_connections", "Open websockets.", multiprocess_mode="livesum"
)
sse_connections = Gauge(
    "contentgraph_sse_connections", "Open Server-Sent Events streams.", multiprocess_mode="livesum"
)
subscriptions = Gauge(
    "contentgraph_subscriptions", "Live GraphQL subscriptions.", multiprocess_mode="livesum"
)
events_published = Counter(
    "contentgraph_events_published", "Events relayed from the outbox to the event log."
)
events_delivered = Counter(
    "contentgraph_events_delivered", "Events handed to a subscriber (one per subscriber)."
)
events_dropped = Counter(
    "contentgraph_events_dropped", "Events a subscriber did not get, by reason.", ["reason"]
)
event_position = Gauge(
    "contentgraph_event_position",
    "The id of the last event delivered (the furthest process).",
    multiprocess_mode="livemax",
)
subscription_executions = Counter(
    "contentgraph_subscription_executions",
    "Subscription events executed (one per event and shape).",
)
subscription_results_shared = Counter(
    "contentgraph_subscription_results_shared",
    "Subscription events answered with the result of another subscriber of the same shape.",
)
db_in_use = Gauge(
    "contentgraph_db_connections_in_use",
    "Database connections checked out, by pool.",
    ["pool"],
    multiprocess_mode="livesum",
)
db_waiting = Gauge(
    "contentgraph_db_connections_waiting",
    "Callers waiting for a database connection (queued, or while one opens), by pool.",
    ["pool"],
    multiprocess_mode="livesum",
)
sql_statements = Counter(
    "contentgraph_sql_statements", "SQL statements sent (no transaction control)."
)
redis_errors = Counter(
    "contentgraph_redis_errors",
    "Redis calls that failed, timed out, or were not made (circuit open).",
    ["kind"],
)
redis_outages = Counter("contentgraph_redis_outages", "Times the Redis circuit breaker opened.")
redis_circuit_open = Gauge(
    "contentgraph_redis_circuit_open",
    "1 while the Redis circuit breaker is open.",
    multiprocess_mode="livemax",
)


def _zero(counter: Counter | Gauge, label: str, values: Iterable[str]) -> None:
    for value in values:
        counter.labels(**{label: value})


def initialise() -> None:
    """Every bounded series at zero from the start, so a rate over a series that has not
    happened yet (no refusal, no Redis error) reads 0, not "no data". Called per process."""
    _zero(upload_refusals, "reason", UPLOAD_REFUSALS)
    _zero(events_dropped, "reason", DROP_REASONS)
    _zero(redis_errors, "kind", REDIS_ERRORS)
    _zero(db_in_use, "pool", POOLS)
    _zero(db_waiting, "pool", POOLS)
    for kind in ROW_KINDS:
        for result in ("hit", "miss"):
            row_cache_lookups.labels(kind=kind, result=result)
    for gauge in (websocket_connections, sse_connections, subscriptions, redis_circuit_open):
        gauge.inc(0)


def adder(metric: Counter | Gauge) -> Callable[[float], None]:
    """The bare ``add(amount)`` of a counter's or gauge's value (a label child, or a metric
    without labels), for the compiled read path. prometheus-client's ``inc`` checks on every
    call that the metric is observable, the amount positive, an exemplar valid - as much again
    as the addition: a compiled read's seven cost 31,000 of its 245,600 instructions with the
    checks, 18,000 without (callgrind, in process). The value object is the one the registry
    exports (MutexValue, or its mmap'd twin under --workers, which re-opens its file after a
    fork), so the figures are the same; a counter's caller adds only positive amounts."""
    add: Callable[[float], None] = metric._value.inc
    return add


class LatencyObserver:
    """A histogram child's ``observe`` as two additions: its sum, and the one bucket the value
    falls in (prometheus-client keeps buckets uncumulated and adds them up when collected),
    found by bisection. Same figures as ``observe``, without its per-call checks (see adder)."""

    __slots__ = ("_add_to_bucket", "_add_to_sum", "_bounds")

    def __init__(self, child: Histogram) -> None:
        self._add_to_sum = child._sum.inc
        self._bounds: list[float] = list(child._upper_bounds)
        self._add_to_bucket = [bucket.inc for bucket in child._buckets]

    def observe(self, seconds: float) -> None:
        self._add_to_sum(seconds)
        # The first bound >= seconds (the last bound is +Inf), as observe() finds it.
        self._add_to_bucket[bisect.bisect_left(self._bounds, seconds)](1)


def observe_request(
    transport: str, operation: str, code: str, seconds: float | None = None
) -> None:
    """One GraphQL operation answered (``seconds``: its latency, None for a subscription)."""
    key = (transport, operation, code)
    children = _request_children.get(key)
    if children is None:  # labels() validates and locks on every call: once per label set
        children = _request_children[key] = (
            adder(requests.labels(transport=transport, operation=operation, code=code)),
            LatencyObserver(request_duration.labels(transport=transport, operation=operation)),
        )
    children[0](1)
    if seconds is not None:
        children[1].observe(seconds)


#: The children of each (transport, operation, code) seen: a bounded set (codes are an enum).
_request_children: dict[tuple[str, str, str], tuple[Callable[[float], None], LatencyObserver]] = {}

#: The compiled read path's own counts (see adder).
count_compiled_read = adder(compiled_reads)
count_sql_statement = adder(sql_statements)


def multiprocess_path() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def process_exit() -> None:
    """This worker is stopping: its live gauges stop counting (its counters stay summed)."""
    path = multiprocess_path()
    if path is not None:
        _multiprocess.mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]


def _forget_dead_workers(path: str) -> None:
    """A worker killed without a shutdown (SIGKILL, a crash) left its live gauges behind;
    uvicorn's supervisor has no hook to tell us, so the scrape checks who is still there."""
    pids = {
        os.path.basename(name).rsplit("_", 1)[-1].removesuffix(".db")
        for name in glob.glob(os.path.join(path, "gauge_live*_*.db"))
    }
    for pid in pids:
        if not pid.isdecimal() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                _multiprocess.mark_process_dead(int(pid), path)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, someone else's: not ours to judge


def exposition() -> tuple[bytes, str]:
    """The text ``GET /metrics`` answers: every worker's values summed in multiprocess mode,
    this process's registry (with its process and GC collectors) otherwise."""
    path = multiprocess_path()
    if path is None:
        return generate_latest(REGISTRY), CONTENT_TYPE
    _forget_dead_workers(path)
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE
