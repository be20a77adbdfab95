"""Shared fixtures: every GraphQL test runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import random
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import event
from starlette.applications import Starlette

from app.auth.roles import ensure_default_roles, roles_by_names
from app.auth.users import create_user
from app.config import Settings
from app.db.migrate import upgrade
from app.db.models import Base
from app.kv.connection import client as redis_client
from app.server import create_app
from tests.backends import (
    FRONTEND_ORIGIN,
    REDIS_URL,
    TEST_SECRET,
    create_postgres_database,
    drop_postgres_database,
    drop_redis_keys,
    postgres_settings,
    require_redis,
    sqlite_settings,
    unavailable,
)
from tests.processes import free_port, wait_healthy
from tests.redis_server import disposable_redis  # noqa: F401 (a fixture for every module)
from tests.s3_server import s3_server  # noqa: F401 (a fixture for every module)

BACKENDS = ["sqlite", "postgres"]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session", params=BACKENDS)
async def backend_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    """A migrated, empty database of each kind, shared by the tests of one session."""
    directory = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        settings = sqlite_settings(directory)
        await upgrade(settings)
        yield settings
        return
    url = await create_postgres_database()
    try:
        settings = postgres_settings(url, directory)
        await require_redis(settings)
        await upgrade(settings)
        yield settings
        await drop_redis_keys(settings)
    finally:
        await drop_postgres_database(url)


@pytest.fixture(scope="session")
async def app(backend_settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(backend_settings)
    yield application
    await application.state.db.dispose()


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Each test starts with empty tables (cheaper than a database per test)."""
    yield
    if "app" not in request.fixturenames:
        return
    application: Starlette = request.getfixturevalue("app")
    async with application.state.db.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(table.delete())
    shutil.rmtree(application.state.settings.files_root, ignore_errors=True)


def client_address() -> str:
    """A client address of its own per test, so per-address login limits never carry over."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """A client of the real Redis (tests that write keys choose their own prefix)."""
    connection = redis_client(REDIS_URL)
    try:
        await connection.ping()
    except Exception as exc:
        await connection.aclose()
        unavailable(f"Redis is not reachable at {REDIS_URL}: {exc}")
    yield connection
    await connection.aclose()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(client_address(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


class GraphQLClient:
    """Posts operations the way a browser client does and returns the decoded body."""

    def __init__(self, http: httpx.AsyncClient, token: str | None = None) -> None:
        self.http = http
        self.token = token

    def as_user(self, token: str | None) -> GraphQLClient:
        return GraphQLClient(self.http, token)

    async def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or None}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        body = await self(query, **variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


async def user_token(app: Starlette, username: str, *roles: str) -> str:
    """Create a user holding ``roles`` and open a session for them, without the login path."""
    services = app.state.services
    async with services.db.session() as session:
        await ensure_default_roles(session)
        role_rows = await roles_by_names(session, roles)
        user = await create_user(
            session,
            services.auth.passwords,
            {"username": username, "password": PASSWORD},
            [r.id for r in role_rows],
        )
    token: str
    token, _ = await services.auth.sessions.create(user.id)
    return token


async def as_admin(app: Starlette, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Sign a raw HTTP client in as an administrator, for tests about something else."""
    client.headers["Authorization"] = f"Bearer {await user_token(app, 'admin', 'admin')}"
    return client


@pytest.fixture
async def gql(app: Starlette, client: httpx.AsyncClient) -> GraphQLClient:
    """A client signed in as an administrator (every scope)."""
    return GraphQLClient(client, await user_token(app, "admin", "admin"))


@pytest.fixture
def anon(client: httpx.AsyncClient) -> GraphQLClient:
    """A client with no session."""
    return GraphQLClient(client)


class StatementCounter:
    """Counts the SQL statements an engine sends (transaction control excluded)."""

    IGNORED = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(self.IGNORED):
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()


@pytest.fixture
def sql_counter(app: Starlette) -> Iterator[StatementCounter]:
    counter = StatementCounter()
    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)


@pytest.fixture(scope="session")
def live_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the live server: the embedded default in a temp directory."""
    workdir = tmp_path_factory.mktemp("live")
    return {
        **os.environ,
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "VAR_DIR": str(workdir / "var"),
        "FILES_ROOT": str(workdir / "files"),
        "SECRET_KEY": TEST_SECRET,
        "CORS_ORIGINS": FRONTEND_ORIGIN,
        "LOG_LEVEL": "WARNING",
        "PASSWORD_TIME_COST": "1",
        "PASSWORD_MEMORY_KIB": "8",
    }


def cli_env(settings: Settings, live_env: dict[str, str]) -> dict[str, str]:
    """The environment that points the CLI at the test app's database and files."""
    return {
        **live_env,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url or "",
        "REDIS_PREFIX": settings.redis_prefix,
        "VAR_DIR": str(settings.var_dir),
        "FILES_ROOT": str(settings.files_root),
    }


def signed_in(base: str, env: dict[str, str], *flags: str) -> tuple[str, str]:
    """A user created with the CLI in a live server's database (``flags``: ``--admin``),
    then signed in over HTTP: (username, token)."""
    username = f"user-{uuid.uuid4().hex[:8]}"
    created = run_cli(env, "createuser", username, *flags, "--password-stdin", stdin=PASSWORD)
    assert created.returncode == 0, created.stderr
    body = httpx.post(
        f"{base}/graphql",
        json={
            "query": "mutation($u: String!, $p: String!) "
            "{ login(input: {username: $u, password: $p}) { token } }",
            "variables": {"u": username, "p": PASSWORD},
        },
    ).json()
    token: str = body["data"]["login"]["token"]
    return username, token


def run_cli(
    env: dict[str, str], *arguments: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *arguments],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextlib.contextmanager
def serve(env: dict[str, str], log_path: Path, *arguments: str) -> Iterator[str]:
    """Run `contentgraph serve --migrate` (and ``arguments``) until the block ends; yield its
    base URL."""
    with serve_process(env, log_path, *arguments) as (base_url, _):
        yield base_url


@contextlib.contextmanager
def serve_process(
    env: dict[str, str], log_path: Path, *arguments: str
) -> Iterator[tuple[str, int]]:
    """Like ``serve``, and the pid too: for tests that watch the server process itself."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                *("-m", "app.cli", "serve", "--migrate", "--port", str(port)),
                *arguments,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_healthy(process, base_url)
            except RuntimeError as error:
                raise RuntimeError(f"{error}: {log_path.read_text()}") from None
            yield base_url, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="session")
def live_server(live_env: dict[str, str]) -> Iterator[str]:
    """A real `contentgraph serve` process on the embedded default."""
    with serve(live_env, Path(live_env["VAR_DIR"]).parent / "server.log") as url:
        yield url


def _run_async(coroutine: Any) -> Any:
    """Run a coroutine to completion from a sync fixture, off pytest-asyncio's loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def production_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The production shape for a live server: its own PostgreSQL database, Redis."""
    url = _run_async(create_postgres_database())
    settings = postgres_settings(url, tmp_path_factory.mktemp("production"))
    _run_async(require_redis(settings))
    workdir = settings.var_dir.parent
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": str(settings.redis_url),
        "REDIS_PREFIX": settings.redis_prefix,
        "VAR_DIR": str(workdir / "var"),
        "FILES_ROOT": str(workdir / "files"),
        "SECRET_KEY": TEST_SECRET,
        "CORS_ORIGINS": FRONTEND_ORIGIN,
        "LOG_LEVEL": "WARNING",
        "PASSWORD_TIME_COST": "1",
        "PASSWORD_MEMORY_KIB": "8",
    }
    try:
        yield env
    finally:
        _run_async(drop_redis_keys(settings))
        _run_async(drop_postgres_database(url))


@pytest.fixture(scope="session")
def production_server(production_env: dict[str, str]) -> Iterator[str]:
    """A real server process on PostgreSQL and Redis."""
    with serve(production_env, Path(production_env["VAR_DIR"]).parent / "server.log") as url:
        yield url


@pytest.fixture(params=["embedded", "production"])
def live_stack(request: pytest.FixtureRequest) -> tuple[str, dict[str, str]]:
    """(base URL, environment) of a live server, once per stack."""
    if request.param == "embedded":
        return request.getfixturevalue("live_server"), request.getfixturevalue("live_env")
    return request.getfixturevalue("production_server"), request.getfixturevalue("production_env")
