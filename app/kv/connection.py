"""The Redis client, and the key prefix every store shares."""

from __future__ import annotations

from redis.asyncio import Redis

from app.config import Settings


def connect(settings: Settings) -> Redis | None:
    """A pooled client when REDIS_URL is set, else None (the in-process backends are used)."""
    if not settings.redis_url:
        return None
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
    )


def key(settings: Settings, *parts: str) -> str:
    return ":".join((settings.redis_prefix, *parts))
