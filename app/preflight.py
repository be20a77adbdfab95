"""Start-up checks: refuse to start with one line that names the cause and the fix.

A server that announces "serving at ..." and then dies in its lifespan with a long traceback
tells an operator nothing they can act on. Before serving (and before the other commands touch
the database) each dependency is tried once, briefly: the database answers and is writable,
its schema is the one this code needs, Redis answers, the files root is writable, the
connections every worker may open fit under PostgreSQL's ``max_connections`` (unless they go
through PgBouncer, whose pools open PostgreSQL's) and under Redis' ``maxclients``.

A failure raises :class:`Refused`, printed by the CLI as ``contentgraph: <cause>; <fix>``.
:func:`explain` turns the same failures into the same lines wherever else they surface (a
database that goes away in the middle of ``gc``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from app.config import ConfigurationError, Settings, StorageBackend
from app.db.database import connection_parts, connections_per_process
from app.db.engine import create_engine, driver_arguments
from app.db.migrate import alembic_config, downgrade, upgrade
from app.db.transactions import SQLITE_BEGIN
from app.storage.local import probe_writable
from app.storage.stores import build_blob_store

#: How long one check may wait for an answer: long enough for a loaded server, short enough
#: that a firewalled host is reported promptly instead of after asyncpg's default minute.
CHECK_SECONDS = 5.0
logger = logging.getLogger("contentgraph")
MIGRATE = "run `contentgraph migrate` (or start with `contentgraph serve --migrate`)"


class Refused(ConfigurationError):
    """A start-up check failed. Its message is one line: the cause, then the fix."""

    def __init__(self, cause: str, fix: str) -> None:
        super().__init__(f"{cause}; {fix}")


# -- naming the targets (never their passwords) ------------------------------------------------


def database_target(settings: Settings) -> str:
    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() == "sqlite":
        return f"the SQLite database {url.database}"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def redis_target(settings: Settings) -> str:
    parts = urlsplit(settings.redis_url or "")
    if parts.scheme == "unix":
        return f"Redis at {parts.path}"
    return f"Redis at {parts.hostname or 'localhost'}:{parts.port or 6379}"


# -- explaining failures -----------------------------------------------------------------------


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what SQLAlchemy wrapped (``orig``), and its causes, each once."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nested in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(nested, BaseException):
                pending.append(nested)


def _explain_postgres(exc: BaseException, settings: Settings) -> Refused | None:
    url = make_url(settings.sqlalchemy_url)
    target = database_target(settings)
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return Refused(
            f"the database {url.database!r} does not exist on {target.rsplit('/', 1)[0]}",
            f"create it (createdb {url.database}) or fix the database name in DATABASE_URL",
        )
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return Refused(
            f"{target} refused the password of user {url.username!r}",
            "fix the user or password in DATABASE_URL",
        )
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return Refused(
            f"{target} refused user {url.username!r}: {exc}",
            "fix the user in DATABASE_URL, or let it in (CREATE ROLE, pg_hba.conf)",
        )
    if isinstance(exc, asyncpg.TooManyConnectionsError):
        return Refused(
            f"{target} has no connection slots left ({exc})",
            "close other clients, lower DB_POOL_SIZE or --workers, or raise max_connections",
        )
    if isinstance(exc, asyncpg.UndefinedTableError):
        return Refused(f"{target} has no contentgraph schema ({exc})", MIGRATE)
    if isinstance(exc, asyncpg.CannotConnectNowError):
        return Refused(f"{target} is not accepting connections yet ({exc})", "retry shortly")
    if isinstance(exc, socket.gaierror):
        return Refused(
            f"cannot resolve the database host {url.host!r} ({exc.strerror})",
            "fix the host name in DATABASE_URL",
        )
    if isinstance(exc, ConnectionRefusedError):
        return Refused(
            f"cannot connect to {target}: connection refused",
            "start PostgreSQL, or fix the host and port in DATABASE_URL",
        )
    if isinstance(exc, TimeoutError):
        return Refused(
            f"{target} did not answer in time",
            "check that DATABASE_URL names a reachable PostgreSQL server",
        )
    if isinstance(exc, ConnectionError):
        return Refused(
            f"cannot connect to {target}: {exc}",
            "check the server, and the host and port in DATABASE_URL",
        )
    return None


def _explain_sqlite(exc: BaseException, settings: Settings) -> Refused | None:
    if not isinstance(exc, sqlite3.OperationalError):
        return None
    target, message = database_target(settings), str(exc)
    if "no such table" in message:
        return Refused(f"{target} has no contentgraph schema ({message})", MIGRATE)
    if "locked" in message:
        return Refused(
            f"{target} stayed locked by another process ({message})",
            "retry when the other writer is done",
        )
    if "unable to open" in message or "readonly" in message or "disk I/O" in message:
        return Refused(
            f"cannot open {target} for writing: {message}",
            "make its directory and file writable (VAR_DIR, or the path in DATABASE_URL)",
        )
    return None


def _explain_redis(exc: BaseException, settings: Settings) -> Refused | None:
    if not isinstance(exc, redis_errors.RedisError):
        return None
    target = redis_target(settings)
    if isinstance(exc, redis_errors.AuthenticationError):
        return Refused(f"{target} refused the credentials: {exc}", "fix the password in REDIS_URL")
    if isinstance(exc, redis_errors.TimeoutError):
        return Refused(
            f"{target} did not answer in time",
            "check that REDIS_URL names a reachable Redis server",
        )
    if isinstance(exc, redis_errors.ConnectionError):
        causes = list(_chain(exc))[1:]
        if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
            reason = "connection refused"
        elif unresolved := [c for c in causes if isinstance(c, socket.gaierror)]:
            reason = f"cannot resolve the host ({unresolved[0].strerror})"
        else:
            reason = str(exc).rstrip(".")
        return Refused(
            f"cannot reach {target}: {reason}", "start Redis, or fix REDIS_URL (or unset it)"
        )
    return Refused(f"{target} answered with an error: {exc}", "fix REDIS_URL")


def explain(exc: BaseException, settings: Settings) -> Refused | None:
    """The one line for a failure to reach the database or Redis; None for anything else.

    Only errors that can come from talking to those services are claimed: a PermissionError
    from the files root, say, is not a database problem and keeps its traceback.
    """
    database = _explain_sqlite if settings.is_sqlite else _explain_postgres
    for link in _chain(exc):
        if isinstance(link, Refused):
            return link
        refusal = _explain_redis(link, settings) or database(link, settings)
        if refusal is not None:
            return refusal
    return None


# -- the checks --------------------------------------------------------------------------------


def _engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        return create_engine(settings)  # the app's own: it creates the directory, sets WAL
    return create_async_engine(
        settings.sqlalchemy_url,
        poolclass=NullPool,
        connect_args={
            **driver_arguments(settings),  # through PgBouncer too, no named statements
            "timeout": CHECK_SECONDS,
            "command_timeout": CHECK_SECONDS,
            "server_settings": {"application_name": "contentgraph-preflight"},
        },
    )


@asynccontextmanager
async def _connected(settings: Settings) -> AsyncIterator[AsyncConnection]:
    """One short-lived connection; any failure to get or use it becomes a Refused line."""
    try:
        engine = _engine(settings)
    except OSError as exc:  # SQLite: the directory of the database file cannot be made
        raise Refused(
            f"cannot create the directory of {database_target(settings)}: {exc.strerror}",
            "make VAR_DIR (or the path in DATABASE_URL) a writable directory",
        ) from exc
    try:
        async with engine.connect() as connection:
            yield connection
    except Refused:
        raise
    except Exception as exc:
        refusal = explain(exc, settings)
        if refusal is None:
            raise
        raise refusal from exc
    finally:
        await engine.dispose()


async def check_database(settings: Settings) -> None:
    """The database answers; SQLite also takes a write lock (its file and directory work)."""
    async with _connected(settings) as connection:
        if settings.is_sqlite:
            writer = await connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            await writer.execute(text("SELECT 1"))
            await writer.rollback()
        else:
            await connection.execute(text("SELECT 1"))


def _current_revisions(connection: Connection) -> tuple[str, ...]:
    # Alembic announces its dialect at INFO: news during a migration, noise in a check.
    log = logging.getLogger("alembic.runtime.migration")
    level = log.level
    log.setLevel(max(level, logging.WARNING))
    try:
        return tuple(MigrationContext.configure(connection).get_current_heads())
    finally:
        log.setLevel(level)


async def _schema(settings: Settings) -> tuple[set[str], set[str]]:
    """(the database's revisions, this code's heads); refused if the database is newer."""
    script = ScriptDirectory.from_config(alembic_config(settings))
    async with _connected(settings) as connection:
        current = set(await connection.run_sync(_current_revisions))
    for revision in sorted(current):
        try:
            script.get_revision(revision)
        except CommandError:
            raise Refused(
                f"{database_target(settings)} has schema revision {revision}, which this "
                "version of contentgraph does not know (a newer version migrated it)",
                "run that newer version, or downgrade the schema with it",
            ) from None
    return current, set(script.get_heads())


async def check_schema(settings: Settings) -> None:
    """The schema is at the revision this code was written for: not older, not newer."""
    current, heads = await _schema(settings)
    if current == heads:
        return
    target = database_target(settings)
    if not current:
        raise Refused(f"{target} has no contentgraph schema (never migrated)", MIGRATE)
    raise Refused(
        f"{target} has schema revision {', '.join(sorted(current))}, this version needs "
        f"{', '.join(sorted(heads))}",
        MIGRATE,
    )


async def migrate(settings: Settings, revision: str = "head", *, down: bool = False) -> None:
    """Alembic, with its failures as one line: unreachable, unknown revision, a failing step."""
    await _bounded(_schema(settings), "database schema")  # a newer schema: say so, touch nothing
    try:
        await (downgrade if down else upgrade)(settings, revision)
    except CommandError as exc:  # the revision asked for is unknown, or in the wrong direction
        raise Refused(
            f"cannot migrate to {revision!r}: {exc}",
            "name a known revision (`contentgraph migrate` alone goes to the newest)",
        ) from exc
    except Exception as exc:
        refusal = explain(exc, settings)
        if refusal is not None:
            raise refusal from exc
        first_line = (str(getattr(exc, "orig", None) or exc).splitlines() or [""])[0]
        raise Refused(
            f"the migration of {database_target(settings)} failed: "
            f"{type(exc).__name__}: {first_line}",
            "fix the cause and run `contentgraph migrate` again "
            "(LOG_LEVEL=DEBUG shows the traceback)",
        ) from exc


@asynccontextmanager
async def _redis(settings: Settings) -> AsyncIterator[Redis]:
    """One short-lived Redis connection; any failure to use it becomes a Refused line."""
    assert settings.redis_url
    client = Redis.from_url(
        settings.redis_url, socket_connect_timeout=CHECK_SECONDS, socket_timeout=CHECK_SECONDS
    )
    try:
        yield client
    except redis_errors.RedisError as exc:
        raise (_explain_redis(exc, settings) or Refused(str(exc), "fix REDIS_URL")) from exc
    finally:
        await client.aclose()


async def check_redis(settings: Settings) -> None:
    if not settings.redis_url:
        return
    async with _redis(settings) as client:
        await client.ping()


async def check_redis_budget(settings: Settings, workers: int) -> None:
    """Every worker's Redis pool at its fullest must fit under Redis' ``maxclients``.

    A process opens at most REDIS_MAX_CONNECTIONS (app.kv.connection: one blocking pool, the
    event listener's waiting read included). Past ``maxclients`` Redis refuses connections:
    the breaker would open and the server run without Redis - a setup that cannot work as
    meant is refused instead. Redis before 7 does not report ``maxclients`` in INFO: then
    nothing is checked. Other clients are not counted, as for PostgreSQL.
    """
    if not settings.redis_url:
        return
    async with _redis(settings) as client:
        info = await client.info("clients")
    if "maxclients" not in info:
        return
    maximum, per_process = int(info["maxclients"]), settings.redis_max_connections
    needed = workers * per_process
    if needed <= maximum:
        return
    fixes = []
    if maximum // workers >= 2:  # REDIS_MAX_CONNECTIONS' least value
        fixes.append(f"lower REDIS_MAX_CONNECTIONS to {maximum // workers}")
    if 1 <= maximum // per_process < workers:
        fixes.append(f"run --workers {maximum // per_process}")
    fixes.append(f"raise Redis' maxclients to {needed}")
    processes = f"{workers} workers" if workers > 1 else "1 process"
    raise Refused(
        f"{processes} x REDIS_MAX_CONNECTIONS {per_process} = {needed} Redis connections, but "
        f"{redis_target(settings)} allows {maximum} (maxclients)",
        ", or ".join(fixes),
    )


async def check_files_root(settings: Settings) -> None:
    if settings.storage_backend is StorageBackend.S3:
        await check_bucket(settings)
        return
    root = settings.files_root
    try:
        await asyncio.to_thread(probe_writable, root)
    except OSError as exc:
        raise Refused(
            f"the files root {root} is not a writable directory ({exc.strerror or exc})",
            "set FILES_ROOT to a directory this user can write",
        ) from exc


async def check_bucket(settings: Settings) -> None:
    """Write and remove a small object: the bucket is there and the credentials may write."""
    store = build_blob_store(settings)
    try:
        async with asyncio.timeout(CHECK_SECONDS * 2):
            await store.check()
    except Exception as exc:
        raise Refused(
            f"{store.describe()} cannot be written ({type(exc).__name__}: {exc})",
            "check S3_BUCKET, S3_ENDPOINT_URL, S3_REGION and the credentials",
        ) from exc
    finally:
        await store.close()


async def check_connection_budget(settings: Settings, workers: int) -> None:
    """Every worker's pools at their fullest must fit in what PostgreSQL lets us open.

    Counted per process: the engine's pool and overflow plus the compiled-read queue
    (app.db.database.connections_per_process). Available: ``max_connections`` minus the slots
    reserved for superusers (and, from PostgreSQL 16, for ``pg_use_reserved_connections``).
    Other clients are not counted: they come and go, the budget is the worst case of ours.

    Through PgBouncer (DB_PGBOUNCER) these are connections to PgBouncer, and PgBouncer's pools
    open PostgreSQL's: nothing here can see its limits, so the count is only announced.
    """
    if settings.is_sqlite:
        return
    if settings.db_pgbouncer:
        per_process = connections_per_process(settings)
        processes = f"{workers} workers" if workers > 1 else "1 process"
        logger.info(
            "DB_PGBOUNCER: %s x %d = %d connections to PgBouncer from this host; its "
            "max_client_conn must allow those of every host, and its pools must fit "
            "PostgreSQL's max_connections",
            processes,
            per_process,
            workers * per_process,
        )
        return
    async with _connected(settings) as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT current_setting('max_connections')::int, "
                    "current_setting('superuser_reserved_connections')::int, "
                    "coalesce(current_setting('reserved_connections', true), '0')::int"
                )
            )
        ).one()
    maximum, superuser_reserved, reserved = int(row[0]), int(row[1]), int(row[2])
    available = maximum - superuser_reserved - reserved
    per_process = connections_per_process(settings)
    needed = workers * per_process
    if needed <= available:
        return
    fixes = []
    fitting_pool = next(
        (
            size
            for size in range(settings.db_pool_size - 1, 0, -1)
            if workers * connections_per_process(settings.model_copy(update={"db_pool_size": size}))
            <= available
        ),
        None,
    )
    if fitting_pool is not None:
        fixes.append(f"lower DB_POOL_SIZE to {fitting_pool}")
    if 1 <= available // per_process < workers:
        fixes.append(f"run --workers {available // per_process}")
    fixes.append(f"raise max_connections to {needed + superuser_reserved + reserved}")
    parts = " + ".join(f"{name} {count}" for name, count in connection_parts(settings).items())
    processes = f"{workers} workers" if workers > 1 else "1 process"
    raise Refused(
        f"{processes} x {per_process} connections ({parts}; DB_POOL_SIZE "
        f"{settings.db_pool_size}, BACKGROUND_POOL_SIZE {settings.background_pool_size}) = "
        f"{needed} PostgreSQL connections, but "
        f"{database_target(settings)} allows {available} (max_connections {maximum} - "
        f"{superuser_reserved + reserved} reserved)",
        ", or ".join(fixes),
    )


async def _bounded(check: Coroutine[Any, Any, object], what: str) -> None:
    """Belt and braces over each check's own timeouts: never hang the start."""
    try:
        async with asyncio.timeout(3 * CHECK_SECONDS):
            await check
    except TimeoutError:
        raise Refused(
            f"the {what} check did not finish within {3 * CHECK_SECONDS:g} s",
            "check that the service is reachable and not overloaded",
        ) from None


async def before_migrating(settings: Settings) -> None:
    """Migrating needs the database answering, promptly (Alembic's engine waits a minute)."""
    await _bounded(check_database(settings), "database")


async def before_commands(settings: Settings) -> None:
    """What migrate's siblings (createuser, fsck, gc) need: a reachable, migrated database."""
    await _bounded(check_database(settings), "database")
    await _bounded(check_schema(settings), "database schema")


async def before_serving(settings: Settings, *, workers: int, migrate_first: bool) -> None:
    """Every check ``serve`` needs, in the order an operator would fix them."""
    await _bounded(check_database(settings), "database")
    if migrate_first:
        await migrate(settings)
    await _bounded(check_schema(settings), "database schema")
    await _bounded(check_redis(settings), "Redis")
    await _bounded(check_files_root(settings), "files root")
    await _bounded(check_connection_budget(settings, workers), "connection budget")
    await _bounded(check_redis_budget(settings, workers), "Redis connection budget")
