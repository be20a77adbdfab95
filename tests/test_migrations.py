"""Migrations: up from empty, down to base, and agreement with the models, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from app.config import Settings
from app.db.engine import create_engine
from app.db.migrate import downgrade, upgrade
from app.db.models import Base
from tests.backends import (
    create_postgres_database,
    drop_postgres_database,
    postgres_settings,
    sqlite_settings,
)

TABLES = {
    "user",
    "role",
    "user_role",
    "stored_file",
    "contact",
    "album",
    "photo",
    "login_session",
    "event_outbox",
}


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    if request.param == "sqlite":
        yield sqlite_settings(tmp_path)
        return
    url = await create_postgres_database()
    try:
        yield postgres_settings(url, tmp_path)
    finally:
        await drop_postgres_database(url)


async def _tables(settings: Settings) -> set[str]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()
    return set(names) - {"alembic_version"}


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_from_empty_then_downgrade_to_base(empty_database: Settings) -> None:
    await upgrade(empty_database)
    assert await _tables(empty_database) == TABLES
    await downgrade(empty_database, "base")
    assert await _tables(empty_database) == set()
    await upgrade(empty_database)  # and back up: downgrade left nothing behind
    assert await _tables(empty_database) == TABLES


@pytest.mark.filterwarnings("ignore:.*expression-based index")  # SQLite cannot reflect them
async def test_models_and_migrations_agree(empty_database: Settings) -> None:
    await upgrade(empty_database)
    engine = create_engine(empty_database)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == [], "run `alembic revision --autogenerate`: models changed"


async def test_sqlite_enforces_foreign_keys(tmp_path: Path) -> None:
    """SQLite ignores foreign keys unless every connection turns them on."""
    settings = sqlite_settings(tmp_path)
    await upgrade(settings)
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            (enabled,) = (await connection.exec_driver_sql("PRAGMA foreign_keys")).one()
            (journal,) = (await connection.exec_driver_sql("PRAGMA journal_mode")).one()
    finally:
        await engine.dispose()
    assert enabled == 1
    assert journal == "wal"
