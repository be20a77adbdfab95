"""The Redis client, and the key prefix every store shares."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

from app.config import Settings


def client(url: str) -> Redis:
    """A pooled client that survives a Redis restart: a command that meets a connection the
    server closed is retried on a fresh one (with backoff) instead of failing the caller."""
    return Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
        retry_on_error=[ConnectionError, TimeoutError],
    )


def connect(settings: Settings) -> Redis | None:
    """A client when REDIS_URL is set, else None (the in-process backends are used)."""
    return client(settings.redis_url) if settings.redis_url else None


def key(settings: Settings, *parts: str) -> str:
    return ":".join((settings.redis_prefix, *parts))
