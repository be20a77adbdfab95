"""Where the tests find their databases: a fresh SQLite file, and a fresh PostgreSQL database.

PostgreSQL is optional on a laptop (its tests skip) and required in CI, where
``CONTENTGRAPH_REQUIRE_SERVICES=1`` turns a missing server into a failure.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.config import Settings, load_settings

POSTGRES_ADMIN_URL = os.environ.get(
    "CONTENTGRAPH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("CONTENTGRAPH_REQUIRE_SERVICES") == "1"
REDIS_URL = os.environ.get("CONTENTGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
#: Production-like defaults for tests: no anonymous reads; cheap hashing to keep tests fast.
#: A frontend on another origin, allowed by the test servers (CORS).
FRONTEND_ORIGIN = "http://frontend.test"
COMMON: dict[str, object] = {
    "secret_key": TEST_SECRET,
    "cors_origins": [FRONTEND_ORIGIN],
    "anonymous_read": False,
    "password_time_cost": 1,
    "password_memory_kib": 8,
}


def unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"CONTENTGRAPH_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def sqlite_settings(directory: Path, **overrides: object) -> Settings:
    """The embedded default: SQLite file and in-process sessions and counters."""
    return load_settings(
        **{
            **COMMON,
            "database_url": "",
            "redis_url": "",
            "var_dir": directory / "var",
            "files_root": directory / "files",
            **overrides,
        }
    )


def _database_url(name: str) -> str:
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


async def create_postgres_database() -> str:
    """Create an empty, uniquely named database and return its URL (skip if no server)."""
    name = f"contentgraph_test_{uuid.uuid4().hex[:12]}"
    try:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return _database_url(name)


async def drop_postgres_database(url: str) -> None:
    name = url.rpartition("/")[2]
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def postgres_settings(url: str, directory: Path, **overrides: object) -> Settings:
    """The production shape: PostgreSQL and Redis (under a prefix of its own)."""
    return load_settings(
        **{
            **COMMON,
            "database_url": url,
            "redis_url": REDIS_URL,
            "redis_prefix": f"cgtest-{uuid.uuid4().hex[:12]}",
            "var_dir": directory / "var",
            "files_root": directory / "files",
            **overrides,
        }
    )


async def require_redis(settings: Settings) -> None:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except RedisError as exc:
        unavailable(f"Redis is not reachable at {REDIS_URL}: {exc}")
    finally:
        await client.aclose()


async def drop_redis_keys(settings: Settings) -> None:
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{settings.redis_prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
