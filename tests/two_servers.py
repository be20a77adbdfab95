"""Two `contentgraph serve` processes on one fresh database and Redis prefix: where the
multi-process tests start (two replicas behind nginx, two processes on one bucket)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.config import Settings
from tests.backends import (
    create_postgres_database,
    drop_postgres_database,
    drop_redis_keys,
)
from tests.conftest import PASSWORD, run_cli
from tests.processes import kill_group, login_token, server_env, start_logged_servers


@dataclass(frozen=True)
class TwoServers:
    env: dict[str, str]
    bases: tuple[str, str]
    #: The admin "ops", signed in through the first server.
    token: str


@contextlib.contextmanager
def two_servers(directory: Path, **settings: str) -> Iterator[TwoServers]:
    """Both servers healthy, their logs in ``directory/server-N.log``, their state under
    ``directory`` (``settings`` add to or override the environment); the database, the Redis
    keys and the processes are gone afterwards (``directory`` is the caller's)."""
    database = asyncio.run(create_postgres_database())
    prefix = f"cgtest-{uuid.uuid4().hex[:12]}"
    env = server_env(directory, database, prefix, **settings)
    started = []
    try:
        migrated = run_cli(env, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        created = run_cli(env, "createuser", "ops", "--admin", "--password-stdin", stdin=PASSWORD)
        assert created.returncode == 0, created.stderr
        started = start_logged_servers(env, directory, 2)
        (_, first), (_, second) = started
        yield TwoServers(env, (first, second), login_token(first, "ops", PASSWORD))
    finally:
        for process, _ in started:
            kill_group(process)
        asyncio.run(drop_redis_keys(Settings.model_construct(redis_prefix=prefix)))
        asyncio.run(drop_postgres_database(database))
