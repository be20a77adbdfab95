"""docker-compose.yml and the Dockerfile cannot run here; keep them consistent with the code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from app.cli import build_parser
from app.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_sets_only_known_settings() -> None:
    known = {name.upper() for name in Settings.model_fields}
    for name in ("app", "migrate"):
        environment = _compose()["services"][name]["environment"]
        assert set(environment) <= known, set(environment) - known


def test_compose_database_url_is_accepted() -> None:
    environment = _compose()["services"]["app"]["environment"]
    settings = load_settings(
        database_url=environment["DATABASE_URL"],
        redis_url=environment["REDIS_URL"],
        secret_key="x" * 48,
    )
    assert settings.sqlalchemy_url.startswith("postgresql+asyncpg://")


def test_compose_commands_parse_with_the_cli() -> None:
    services = _compose()["services"]
    for name in ("app", "migrate"):
        program, *arguments = services[name]["command"]
        assert program == "contentgraph"
        arguments = [a.replace("${WORKERS:-2}", "2") for a in arguments]
        build_parser().parse_args(arguments)
    assert services["app"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def test_dockerfile_runs_the_cli_and_ships_migrations() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY migrations ./migrations" in dockerfile
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    program, *arguments = yaml.safe_load(cmd.removeprefix("CMD "))
    assert program == "contentgraph"
    build_parser().parse_args(arguments)
    assert "pip install -c constraints.txt ." in dockerfile
