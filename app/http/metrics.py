"""``GET /metrics``: a few gauges in the Prometheus text format."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from app.container import Services


async def metrics(request: Request) -> PlainTextResponse:
    services: Services = request.app.state.services
    lines = [
        "# HELP contentgraph_subscriptions Live GraphQL subscriptions in this process.",
        "# TYPE contentgraph_subscriptions gauge",
        f"contentgraph_subscriptions {services.broker.subscriber_count}",
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
