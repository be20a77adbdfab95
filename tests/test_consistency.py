"""No orphans, no dangling rows: fault tests for the upload protocol, fsck and gc."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from starlette.applications import Starlette

from app.config import Settings
from app.storage.local import WRITE_BUFFER
from tests import images
from tests.backends import create_postgres_database, drop_postgres_database
from tests.conftest import PASSWORD, GraphQLClient, cli_env, run_cli
from tests.processes import free_port, kill_group, start_server, wait_healthy
from tests.test_uploads import SET_AVATAR, blobs, new_contact, set_avatar, temp_files
from tests.timing import eventually


def fsck(env: dict[str, str], *arguments: str) -> tuple[int, str]:
    result = run_cli(env, "fsck", "--verify", *arguments)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout


def age(path: Path, seconds: float) -> None:
    """Make a file look ``seconds`` old, as if a crash had left it that long ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
async def failing_file_rows(app: Starlette) -> Any:
    """A real database failure after the blob is placed: a trigger refuses one filename."""
    dialect = app.state.db.dialect
    async with app.state.db.engine.begin() as connection:
        if dialect == "postgresql":
            await connection.execute(
                text(
                    "CREATE FUNCTION refuse_doomed() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.filename = 'doomed.png' THEN RAISE EXCEPTION 'disk on fire'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            await connection.execute(
                text(
                    "CREATE TRIGGER refuse_doomed BEFORE INSERT ON stored_file "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_doomed()"
                )
            )
        else:
            await connection.execute(
                text(
                    "CREATE TRIGGER refuse_doomed BEFORE INSERT ON stored_file "
                    "WHEN NEW.filename = 'doomed.png' "
                    "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
                )
            )
    yield
    async with app.state.db.engine.begin() as connection:
        await connection.execute(
            text(
                "DROP TRIGGER refuse_doomed"
                + (" ON stored_file" if dialect == "postgresql" else "")
            )
        )
        if dialect == "postgresql":
            await connection.execute(text("DROP FUNCTION refuse_doomed()"))


async def test_database_failure_after_the_blob_leaves_no_row_and_gc_collects(
    app: Starlette,
    client: httpx.AsyncClient,
    gql: GraphQLClient,
    backend_settings: Settings,
    live_env: dict[str, str],
    failing_file_rows: None,
) -> None:
    contact_id = await new_contact(gql)
    body = await set_avatar(client, str(gql.token), contact_id, images.png(), "doomed.png")
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "disk on fire" not in json.dumps(body)
    after = await gql.data("query($id: ID!) { contact(id: $id) { avatar { id } } }", id=contact_id)
    assert after["contact"]["avatar"] is None
    assert (
        len(blobs(backend_settings, "contacts.avatar")) == 1
    )  # durable before the row: now orphan

    env = cli_env(backend_settings, live_env)
    # Within the grace period the blob may belong to an upload about to commit: not a fault.
    code, report = fsck(env)
    assert code == 0, report
    assert "0 dangling rows, 0 orphan blobs" in report
    assert "in flight, younger than 3600 s (not faults): 1 orphan blobs, 0 uploads" in report
    assert fsck(env, "--grace", "0")[0] == 1  # the same rule as gc's --grace
    young = run_cli(env, "gc")  # within the grace period: kept (it could be in flight)
    assert "removed 0 orphan blobs" in young.stdout

    (orphan,) = blobs(backend_settings, "contacts.avatar")
    age(orphan, 2 * 3600)  # past the grace period nothing is in flight: a fault
    code, report = fsck(env)
    assert code == 1
    assert f"orphan blob contacts.avatar/{orphan.name} (" in report
    assert "bytes, 2 h old)" in report
    assert "0 dangling rows, 1 orphan blobs" in report
    assert "in flight, younger than 3600 s (not faults): 0 orphan blobs" in report
    collected = run_cli(env, "gc")
    assert "removed 1 orphan blobs" in collected.stdout, collected.stdout
    assert blobs(backend_settings, "contacts.avatar") == []
    assert fsck(env)[0] == 0


async def test_fsck_reports_uploads_in_tmp_in_flight_and_abandoned_without_failing(
    backend_settings: Settings, live_env: dict[str, str]
) -> None:
    env = cli_env(backend_settings, live_env)
    temp = backend_settings.files_root / ".tmp"
    temp.mkdir(parents=True)
    try:
        receiving = temp / uuid.uuid4().hex
        receiving.write_bytes(b"an upload being received")
        age(receiving, 60)
        abandoned = temp / uuid.uuid4().hex
        abandoned.write_bytes(b"an upload a crash cut short")
        age(abandoned, 2 * 3600)

        code, report = fsck(env)
        assert code == 0, report
        assert "0 dangling rows, 0 orphan blobs" in report
        assert "(not faults): 0 orphan blobs, 1 uploads in .tmp" in report
        assert "abandoned uploads in .tmp, older than 3600 s: 1 (not a fault: " in report
        assert "contentgraph gc removes them)" in report
        assert "abandoned uploads in .tmp, older than 30 s: 2" in fsck(env, "--grace", "30")[1]

        collected = run_cli(env, "gc")
        assert "and 1 abandoned uploads" in collected.stdout, collected.stdout
        assert not abandoned.exists()
        code, report = fsck(env)
        assert code == 0
        assert "1 uploads in .tmp" in report
        assert "older than 3600 s: 0" in report
    finally:
        shutil.rmtree(temp)  # the database is shared by the session: leave its files clean


async def test_concurrent_avatar_uploads_one_wins_and_nothing_is_left_over(
    client: httpx.AsyncClient,
    gql: GraphQLClient,
    backend_settings: Settings,
    live_env: dict[str, str],
) -> None:
    contact_id = await new_contact(gql)
    contents = [images.png(10 + i, 10, (i * 20, 0, 0)) for i in range(6)]
    bodies = await asyncio.gather(
        *(
            set_avatar(client, str(gql.token), contact_id, c, f"{i}.png")
            for i, c in enumerate(contents)
        )
    )
    assert all(b["data"]["setContactAvatar"]["userErrors"] == [] for b in bodies)
    final = await gql.data(
        "query($id: ID!) { contact(id: $id) { avatar { sha256 } } }", id=contact_id
    )
    kept = blobs(backend_settings, "contacts.avatar")
    assert [p.name for p in kept] == [final["contact"]["avatar"]["sha256"]]
    code, report = fsck(cli_env(backend_settings, live_env))
    assert code == 0, report
    assert temp_files(backend_settings) == []


async def test_fsck_finds_dangling_rows_and_size_and_hash_mismatches(
    client: httpx.AsyncClient,
    gql: GraphQLClient,
    backend_settings: Settings,
    live_env: dict[str, str],
) -> None:
    env = cli_env(backend_settings, live_env)
    first = await set_avatar(client, str(gql.token), await new_contact(gql, "A"), images.png(7, 7))
    second = await set_avatar(client, str(gql.token), await new_contact(gql, "B"), images.png(8, 8))
    third = await set_avatar(client, str(gql.token), await new_contact(gql, "C"), images.png(9, 9))
    assert fsck(env)[0] == 0

    def path(body: dict[str, Any]) -> Path:
        sha = str(body["data"]["setContactAvatar"]["contact"]["avatar"]["sha256"])
        return backend_settings.files_root / "contacts.avatar" / sha[:2] / sha[2:4] / sha

    path(first).unlink()
    path(second).write_bytes(b"truncated")
    data = bytearray(path(third).read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    path(third).write_bytes(bytes(data))
    code, report = fsck(env)
    assert code == 1
    assert "1 dangling rows" in report
    assert "1 size mismatches, 2 hash mismatches" in report  # the truncated one fails both


async def test_a_client_that_disconnects_mid_upload_leaves_nothing(
    live_server: str, live_env: dict[str, str]
) -> None:
    username = "dropper"
    run_cli(live_env, "createuser", username, "--admin", "--password-stdin", stdin=PASSWORD)
    async with httpx.AsyncClient(base_url=live_server) as http:
        login = await http.post(
            "/graphql",
            json={
                "query": 'mutation { login(input: {username: "dropper", password: "'
                + PASSWORD
                + '"}) { token } }'
            },
        )
        token = login.json()["data"]["login"]["token"]
    files_root = Path(live_env["FILES_ROOT"])
    boundary = "cut-short"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
        + json.dumps({"query": SET_AVATAR, "variables": {"contactId": "x", "file": None}})
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n'
        + '{"0": ["variables.file"]}'
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="0"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode() + b"\0" * (2 * WRITE_BUFFER)  # more than the writer buffers: it reaches disk
    host, port = live_server.removeprefix("http://").split(":")
    temp = files_root / ".tmp"

    def in_temp() -> list[Path]:
        return list(temp.iterdir()) if temp.exists() else []

    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(
            (
                f"POST /graphql HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                f"Apollo-Require-Preflight: 1\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {len(head) + 5_000_000}\r\n\r\n"
            ).encode()
            + head
        )
        await eventually(lambda: in_temp() != [], "the server to stream the file into .tmp")
    # The connection is gone, the body unfinished: the partial upload must go with it.
    await eventually(lambda: in_temp() == [], "the partial upload to be removed from .tmp")
    run_cli(live_env, "gc", "--grace", "0")
    remaining = await asyncio.to_thread(lambda: [p for p in files_root.rglob("*") if p.is_file()])
    assert remaining == []


async def test_fsck_right_after_a_kill_9_mid_upload_finds_no_fault(
    tmp_path: Path, live_env: dict[str, str]
) -> None:
    """Killed between placing the blob and committing its row: what is left is in flight.

    A trigger holds the row's INSERT, so the server is killed exactly there; fsck must accept
    what gc would keep (exit 0), and still call it a fault once past the grace period.
    """
    url = await create_postgres_database()
    env = {
        **live_env,
        "DATABASE_URL": url,
        "VAR_DIR": str(tmp_path / "var"),
        "FILES_ROOT": str(tmp_path / "files"),
    }
    process: subprocess.Popen[bytes] | None = None
    try:
        assert run_cli(env, "migrate").returncode == 0
        made = run_cli(env, "createuser", "crasher", "--admin", "--password-stdin", stdin=PASSWORD)
        assert made.returncode == 0, made.stderr
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(
                "CREATE FUNCTION slow_file_rows() RETURNS trigger AS $$ BEGIN "
                "PERFORM pg_sleep(30); RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            await connection.execute(
                "CREATE TRIGGER slow_file_rows BEFORE INSERT ON stored_file "
                "FOR EACH ROW EXECUTE FUNCTION slow_file_rows()"
            )
        finally:
            await connection.close()
        port = free_port()
        process = start_server(env, port)
        base_url = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(wait_healthy, process, base_url)
        placed = tmp_path / "files" / "contacts.avatar"
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            login = await http.post(
                "/graphql",
                json={
                    "query": "mutation($p: String!) { login(input: "
                    '{username: "crasher", password: $p}) { token } }',
                    "variables": {"p": PASSWORD},
                },
            )
            token = login.json()["data"]["login"]["token"]
            contact_id = await new_contact(GraphQLClient(http, token))
            uploading = asyncio.create_task(set_avatar(http, token, contact_id, images.png()))
            watcher = await asyncpg.connect(url)
            try:

                async def row_held() -> bool:
                    """The blob is placed, and the trigger is holding its row's INSERT."""
                    if not (placed.exists() and any(p.is_file() for p in placed.rglob("*"))):
                        return False
                    held: int = await watcher.fetchval(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event = 'PgSleep' "
                        "AND query ILIKE 'INSERT INTO stored_file%'"
                    )
                    return held == 1

                await eventually(row_held, "the upload to be held between blob and row", 30)
            finally:
                await watcher.close()
            kill_group(process)
            with contextlib.suppress(httpx.TransportError):
                await uploading

        code, report = fsck(env)
        assert code == 0, report
        assert "0 dangling rows, 0 orphan blobs" in report
        assert "(not faults): 1 orphan blobs, 1 uploads in .tmp" in report
        code, report = fsck(env, "--grace", "0")
        assert code == 1, report
        assert "0 dangling rows, 1 orphan blobs" in report
    finally:
        if process is not None:
            kill_group(process)
        await drop_postgres_database(url)
