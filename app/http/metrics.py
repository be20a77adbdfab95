"""``GET /metrics``: every series of app.observability.metrics, in the Prometheus text format -
summed over the workers of ``serve --workers N``, whichever of them answers."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from app.observability import metrics as series


async def metrics(request: Request) -> Response:
    # Reading every worker's files is blocking I/O: off the event loop.
    body, content_type = await run_in_threadpool(series.exposition)
    return Response(body, media_type=content_type)
