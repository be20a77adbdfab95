"""Run Alembic from code, so `contentgraph migrate` needs no alembic.ini on the path."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from app.config import Settings


def migrations_dir() -> Path:
    """The top-level ``migrations/`` beside the packages (source tree or container workdir)."""
    for candidate in (
        Path(__file__).resolve().parents[2] / "migrations",
        Path.cwd() / "migrations",
    ):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("cannot find the migrations/ directory")


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("path_separator", "os")
    config.attributes["sqlalchemy_url"] = settings.sqlalchemy_url
    config.attributes["settings"] = settings  # the engine's too (DB_PGBOUNCER), not just the URL
    return config


def _run(settings: Settings, action: str, revision: str) -> None:
    config = alembic_config(settings)
    getattr(command, action)(config, revision)


async def upgrade(settings: Settings, revision: str = "head") -> None:
    # Alembic's async env runs its own event loop; keep it off ours.
    await asyncio.to_thread(_run, settings, "upgrade", revision)


async def downgrade(settings: Settings, revision: str = "base") -> None:
    await asyncio.to_thread(_run, settings, "downgrade", revision)
