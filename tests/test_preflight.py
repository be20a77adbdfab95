"""Start-up refusals: real `contentgraph` processes against real, broken surroundings.

Each must exit 2 with one line - ``contentgraph: <cause>; <fix>`` - before announcing or
serving anything, and without a traceback (unless LOG_LEVEL=DEBUG asks for one).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from app.config import Settings
from app.preflight import redis_target
from tests.backends import (
    POSTGRES_ADMIN_URL,
    REDIS_URL,
    TEST_SECRET,
    create_postgres_database,
    drop_postgres_database,
)
from tests.conftest import run_cli
from tests.processes import free_port, kill_group, port_open, start_server, wait_healthy

#: The variables these tests set; whatever the outer environment says about them is dropped.
OWN = {
    "DATABASE_URL",
    "REDIS_URL",
    "VAR_DIR",
    "FILES_ROOT",
    "LOG_LEVEL",
    "DB_POOL_SIZE",
    "REDIS_MAX_CONNECTIONS",
}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An operator's environment at the default log level (INFO), files in a temp directory."""
    return {
        **{name: value for name, value in os.environ.items() if name not in OWN},
        "SECRET_KEY": TEST_SECRET,
        "VAR_DIR": str(tmp_path / "var"),
        "FILES_ROOT": str(tmp_path / "files"),
        "PASSWORD_TIME_COST": "1",
        "PASSWORD_MEMORY_KIB": "8",
    }


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    url = await create_postgres_database()
    yield url
    await drop_postgres_database(url)


@pytest.fixture
async def migrated_database(empty_database: str, env: dict[str, str]) -> str:
    migrated = run_cli({**env, "DATABASE_URL": empty_database}, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    return empty_database


def refusal(env: dict[str, str], *arguments: str) -> str:
    """Run the command (serve on a free port by default); return its one line, checked."""
    port = free_port()
    command = list(arguments) or ["serve", "--port", str(port)]
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert "serving" not in output
    assert not port_open(port)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("contentgraph: ")
    assert "; " in line  # the cause; the fix
    return line


def database_url(name: str) -> str:
    return f"{POSTGRES_ADMIN_URL.rpartition('/')[0]}/{name}"


async def test_a_database_port_with_nothing_listening(env: dict[str, str]) -> None:
    port = free_port()
    line = refusal({**env, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/contentgraph"})
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}/contentgraph" in line
    assert "connection refused; start PostgreSQL, or fix the host and port in DATABASE_URL" in line


async def test_the_traceback_is_there_at_debug(env: dict[str, str]) -> None:
    port = free_port()
    result = run_cli(
        {
            **env,
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/contentgraph",
            "LOG_LEVEL": "DEBUG",
        },
        "gc",
    )
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert "ConnectionRefusedError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("contentgraph: cannot connect")


async def test_a_database_that_does_not_exist(env: dict[str, str], empty_database: str) -> None:
    """The server is there (``empty_database`` proves it, or skips): only the name is wrong."""
    name = f"contentgraph_missing_{uuid.uuid4().hex[:8]}"
    line = refusal({**env, "DATABASE_URL": database_url(name)})
    assert f"the database '{name}' does not exist on PostgreSQL at" in line
    assert f"create it (createdb {name}) or fix the database name in DATABASE_URL" in line


async def test_an_unmigrated_database_names_the_migrate_command_everywhere(
    env: dict[str, str], empty_database: str
) -> None:
    env = {**env, "DATABASE_URL": empty_database}
    line = refusal(env)
    assert "has no contentgraph schema (never migrated); run `contentgraph migrate`" in line
    for command in (["fsck"], ["gc"], ["createuser", "someone", "--password-stdin"]):
        assert refusal(env, *command) == line

    assert run_cli(env, "migrate", "0001").returncode == 0
    behind = refusal(env)
    assert "has schema revision 0001, this version needs " in behind
    assert "run `contentgraph migrate`" in behind


async def test_a_failing_migration_is_one_line(env: dict[str, str], empty_database: str) -> None:
    connection = await asyncpg.connect(empty_database)
    try:
        await connection.execute("CREATE TABLE contact (squatter int)")
    finally:
        await connection.close()
    env = {**env, "DATABASE_URL": empty_database, "LOG_LEVEL": "WARNING"}
    line = refusal(env, "migrate")
    assert 'failed: ProgrammingError: relation "contact" already exists' in line
    assert "fix the cause and run `contentgraph migrate` again" in line
    assert refusal(env, "serve", "--migrate", "--port", str(free_port())) == line
    unknown = refusal(env, "migrate", "no-such-revision")
    assert "cannot migrate to 'no-such-revision'" in unknown


async def test_an_unreachable_redis(env: dict[str, str], migrated_database: str) -> None:
    port = free_port()
    line = refusal(
        {**env, "DATABASE_URL": migrated_database, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    )
    assert f"cannot reach Redis at 127.0.0.1:{port}: connection refused" in line
    assert "start Redis, or fix REDIS_URL (or unset it)" in line


async def _available_connections(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        maximum = int(await connection.fetchval("SHOW max_connections"))
        reserved = int(await connection.fetchval("SHOW superuser_reserved_connections"))
        reserved += int(
            await connection.fetchval("SELECT current_setting('reserved_connections', true)") or 0
        )
    finally:
        await connection.close()
    return maximum - reserved


async def test_a_connection_budget_that_does_not_fit(
    env: dict[str, str], migrated_database: str
) -> None:
    available = await _available_connections(migrated_database)
    workers = 2
    background = 2  # BACKGROUND_POOL_SIZE's default
    pool = (available // workers - background) // 3 + 1  # 3: pool, overflow, compiled reads
    env = {**env, "DATABASE_URL": migrated_database, "REDIS_URL": REDIS_URL}
    line = refusal(
        {**env, "DB_POOL_SIZE": str(pool)},
        "serve",
        "--workers",
        str(workers),
        "--port",
        str(free_port()),
    )
    assert (
        f"{workers} workers x {3 * pool + background} connections (pool {pool} + overflow "
        f"{pool} + background {background} + compiled reads {pool}; DB_POOL_SIZE {pool}, "
        f"BACKGROUND_POOL_SIZE {background}) = {workers * (3 * pool + background)} PostgreSQL "
        "connections, but PostgreSQL at "
    ) in line
    assert f"allows {available} (max_connections " in line
    fixes = f"; lower DB_POOL_SIZE to {pool - 1}, or run --workers 1, or raise max_connections"
    assert fixes in line

    # Without compiled reads a process opens a third fewer: the same pool size now fits.
    port = free_port()
    server = start_server(
        {**env, "DB_POOL_SIZE": str(pool), "COMPILED_READS": "false"},
        port,
        "--workers",
        str(workers),
    )
    try:
        wait_healthy(server, f"http://127.0.0.1:{port}")
    finally:
        kill_group(server)


async def test_a_redis_budget_that_does_not_fit(
    env: dict[str, str], migrated_database: str
) -> None:
    """Every worker's Redis pool at its fullest must fit Redis' maxclients."""
    client = Redis.from_url(REDIS_URL)
    try:
        maximum = int((await client.info("clients"))["maxclients"])
    finally:
        await client.aclose()
    per_process = maximum // 2 + 1  # two workers need one more than Redis allows
    if per_process > 10_000:
        pytest.skip(f"maxclients {maximum} is above what REDIS_MAX_CONNECTIONS can exceed")
    target = redis_target(Settings.model_construct(redis_url=REDIS_URL))
    env = {**env, "DATABASE_URL": migrated_database, "REDIS_URL": REDIS_URL}
    line = refusal(
        {**env, "REDIS_MAX_CONNECTIONS": str(per_process)},
        "serve",
        "--workers",
        "2",
        "--port",
        str(free_port()),
    )
    assert (
        f"2 workers x REDIS_MAX_CONNECTIONS {per_process} = {2 * per_process} Redis "
        f"connections, but {target} allows {maximum} (maxclients); lower "
        f"REDIS_MAX_CONNECTIONS to {maximum // 2}, or run --workers 1, or raise Redis' "
        f"maxclients to {2 * per_process}"
    ) in line


async def test_a_files_root_that_cannot_be_written(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    env = {**env, "FILES_ROOT": str(tmp_path / "a-file" / "files"), "LOG_LEVEL": "WARNING"}
    line = refusal(env, "serve", "--migrate", "--port", str(free_port()))
    assert "the files root" in line
    assert "is not a writable directory (Not a directory); set FILES_ROOT to a" in line


async def test_an_embedded_database_that_cannot_be_created(
    env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    env = {**env, "VAR_DIR": str(tmp_path / "a-file" / "var"), "SECRET_KEY": TEST_SECRET}
    line = refusal(env)
    assert "cannot create the directory of the SQLite database" in line
    assert "make VAR_DIR (or the path in DATABASE_URL) a writable directory" in line
    assert refusal(env, "migrate") == line
