"""Shared by the benchmarks: a dedicated PostgreSQL database, seeding, servers, logging in."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import insert, text

from app.config import load_settings
from app.db.database import Database
from app.db.migrate import upgrade
from app.db.models import Album, Contact, Photo, StoredFile

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "load generator password 42"
SECRET = "benchmark-secret-key-0123456789-abcdefghij"


def database_url(name: str) -> str:
    return ADMIN_URL.rpartition("/")[0] + "/" + name


async def fresh_database(name: str) -> str:
    connection = await asyncpg.connect(ADMIN_URL)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = database_url(name)
    await upgrade(load_settings(database_url=url, secret_key=SECRET))
    return url


async def seed(url: str, *, contacts: int, albums: int, photos_per_album: int) -> None:
    """Deterministic rows (file rows only, no blobs): the read path is what is measured."""
    settings = load_settings(database_url=url, secret_key=SECRET)
    db = Database(settings)
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def file_row(entity: str, n: int) -> dict[str, object]:
        digest = hashlib.sha256(f"{entity}-{n}".encode()).hexdigest()
        return {
            "id": uuid.UUID(digest[:32]),  # not hash(): that is salted per process
            "entity": entity,
            "filename": f"{n}.jpg",
            "content_type": "image/jpeg",
            "size": 100_000 + n,
            "sha256": digest,
            "width": 640,
            "height": 480,
            "created_at": start,
        }

    avatars = [file_row("contacts.avatar", n) for n in range(contacts)]
    contact_rows = [
        {
            "id": uuid.UUID(int=n + 1),
            "name": f"Contact {n:05d}",
            "email": f"c{n}@example.com",
            "avatar_id": avatars[n]["id"],
            "created_at": start + timedelta(seconds=n),
            "updated_at": start,
        }
        for n in range(contacts)
    ]
    album_rows = [
        {
            "id": uuid.UUID(int=10**9 + a),
            "title": f"Album {a:04d}",
            "created_at": start,
            "updated_at": start,
        }
        for a in range(albums)
    ]
    photo_files = [file_row("albums.photos", n) for n in range(albums * photos_per_album)]
    photo_rows = [
        {
            "id": uuid.UUID(int=10**12 + n),
            "album_id": album_rows[n // photos_per_album]["id"],
            "file_id": photo_files[n]["id"],
            "caption": f"photo {n}",
            "sort": n % photos_per_album,
            "created_at": start,
        }
        for n in range(albums * photos_per_album)
    ]
    async with db.engine.begin() as connection:
        for table, rows in (
            (StoredFile, avatars + photo_files),
            (Contact, contact_rows),
            (Album, album_rows),
            (Photo, photo_rows),
        ):
            for i in range(0, len(rows), 2000):
                await connection.execute(insert(table), rows[i : i + 2000])
    async with db.engine.connect() as connection:
        # Fresh statistics, as a live database has them: without, the planner takes the
        # tables for a hundred rows and sorts where it would use the indexes.
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("ANALYZE"))
    await db.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(url: str, workdir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": SECRET,
        "VAR_DIR": str(workdir / "var"),
        "FILES_ROOT": str(workdir / "files"),
        "LOG_LEVEL": "WARNING",
        "PASSWORD_TIME_COST": "1",
        "PASSWORD_MEMORY_KIB": "8",
        **extra,
    }


def create_admin(env: dict[str, str], username: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "app.cli", "createuser", username, "--admin", "--password-stdin"],
        env=env,
        input=PASSWORD,
        text=True,
        check=True,
        capture_output=True,
    )


@contextlib.contextmanager
def server(
    env: dict[str, str],
    *,
    command: tuple[str, ...] = ("-m", "app.cli", "serve"),
    health: str = "/healthz",
    log: Path | None = None,
    cwd: Path = ROOT,
) -> Iterator[tuple[str, int]]:
    """A production-shape server process (uvloop, httptools) on a free port - contentgraph
    unless ``command`` says otherwise, its output in ``log`` (else discarded); yields (base
    URL, pid) once ``health`` answers 200. ``cwd``: whose code runs (``python -m`` imports
    from there first: bench perf's ``--before`` points it at a checkout of older code)."""
    port = free_port()
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(log.open("wb")) if log else subprocess.DEVNULL
        process = subprocess.Popen(
            [sys.executable, *command, "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode} (see {log})")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}{health}", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        else:
            raise TimeoutError("server not up within 60 s")
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def login(base: str, username: str) -> str:
    body = httpx.post(
        f"{base}/graphql",
        json={
            "query": "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { token } }",
            "variables": {"u": username, "p": PASSWORD},
        },
    ).json()
    token: str = body["data"]["login"]["token"]
    return token


def statements(base: str) -> int:
    prefix = "contentgraph_sql_statements_total "
    text = httpx.get(f"{base}/metrics").text
    return int(
        float(next(line.split()[1] for line in text.splitlines() if line.startswith(prefix)))
    )


def publish(name: str, lines: list[str]) -> None:
    """Print a Markdown table and keep it in bench/results/<name>.md."""
    text = "\n".join(lines)
    print(text)
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(text + "\n")
