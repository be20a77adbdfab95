"""The Redis client, and the key prefix every store shares."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

from app.config import Settings


def client(url: str, max_connections: int = 64) -> Redis:
    """A pooled client that survives a Redis restart (a command that meets a connection the
    server closed is retried on a fresh one, with backoff) and a burst of requests: past
    ``max_connections`` a command waits for a free connection instead of failing - redis-py's
    default pool raises "Too many connections" at 100 concurrent commands."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=10,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
        # Every call is also bounded by the circuit breaker's deadline (app.kv.breaker).
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.02), retries=2),
        retry_on_error=[ConnectionError, TimeoutError],
    )
    return Redis(connection_pool=pool)


def connect(settings: Settings) -> Redis | None:
    """A client when REDIS_URL is set, else None (the in-process backends are used)."""
    if not settings.redis_url:
        return None
    return client(settings.redis_url, settings.redis_max_connections)


def key(settings: Settings, *parts: str) -> str:
    return ":".join((settings.redis_prefix, *parts))
