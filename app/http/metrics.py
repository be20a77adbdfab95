"""``GET /metrics``: a few gauges in the Prometheus text format."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from app.container import Services


async def metrics(request: Request) -> PlainTextResponse:
    services: Services = request.app.state.services
    compiled = request.app.state.graphql.compiled
    shared = request.app.state.graphql.schema.shared_executions
    lines = [
        "# HELP contentgraph_subscriptions Live GraphQL subscriptions in this process.",
        "# TYPE contentgraph_subscriptions gauge",
        f"contentgraph_subscriptions {services.broker.subscriber_count}",
        "# HELP contentgraph_sql_statements_total SQL statements sent (no transaction control).",
        "# TYPE contentgraph_sql_statements_total counter",
        f"contentgraph_sql_statements_total {services.db.statements}",
        "# HELP contentgraph_compiled_reads_total Queries answered by one compiled statement.",
        "# TYPE contentgraph_compiled_reads_total counter",
        f"contentgraph_compiled_reads_total {compiled.answered if compiled else 0}",
        "# HELP contentgraph_compiled_read_failures_total Compiled reads that failed and were "
        "answered by the resolvers instead.",
        "# TYPE contentgraph_compiled_read_failures_total counter",
        f"contentgraph_compiled_read_failures_total {compiled.failed if compiled else 0}",
        "# HELP contentgraph_subscription_executions_total Subscription events executed (one "
        "per event and shape).",
        "# TYPE contentgraph_subscription_executions_total counter",
        f"contentgraph_subscription_executions_total {shared.executed}",
        "# HELP contentgraph_subscription_results_shared_total Subscription events answered "
        "with the result of another subscriber of the same shape.",
        "# TYPE contentgraph_subscription_results_shared_total counter",
        f"contentgraph_subscription_results_shared_total {shared.shared}",
        "# HELP contentgraph_event_position The id of the last event this process delivered.",
        "# TYPE contentgraph_event_position gauge",
        f"contentgraph_event_position {services.broker.position}",
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
