"""Liveness and readiness probes for orchestrators and load balancers."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from app.db.database import Database
from app.storage.blobs import BlobStore

logger = logging.getLogger("contentgraph.health")
CHECK_TIMEOUT = 2.0


async def healthz(request: Request) -> JSONResponse:
    """The process is up and its event loop answers; says nothing about dependencies."""
    return JSONResponse({"status": "ok"})


async def _check(name: str, coroutine: object) -> tuple[str, str]:
    try:
        await asyncio.wait_for(coroutine, CHECK_TIMEOUT)  # type: ignore[arg-type]
    except Exception as exc:
        logger.warning("readiness check %s failed: %s", name, exc)
        return name, f"failing: {type(exc).__name__}"
    return name, "ok"


async def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the database answers and the blob store (files root, bucket) is writable.

    Redis is reported but does not decide readiness: without it the server still serves
    (slower, from the database). A load balancer that took every instance out when Redis
    hiccuped would turn a cache outage into a full one.
    """
    db: Database = request.app.state.db
    blobs: BlobStore = request.app.state.services.files.blobs
    checks = dict(
        await asyncio.gather(
            _check("database", db.ping()),
            _check("files", blobs.check()),
        )
    )
    ready = all(state == "ok" for state in checks.values())
    redis = request.app.state.services.redis
    if redis is not None:
        _, state = await _check("redis", redis.ping())
        checks["redis"] = state if state == "ok" else f"{state} (degraded: serving without it)"
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )
