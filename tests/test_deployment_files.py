"""docker-compose.yml and the Dockerfile cannot run here; keep them consistent with the code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml

from app import preflight
from app.cli import build_parser, main
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


def test_serve_believes_forwarded_headers_from_the_proxies_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Behind a load balancer the per-address limits must count the client's address, which
    only X-Forwarded-For from the balancer gives: uvicorn believes the peers named here."""
    passed: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **options: passed.update(options))

    async def checked(*args: object, **options: object) -> None:
        return None

    monkeypatch.setattr(preflight, "before_serving", checked)
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8, 192.168.1.2")
    assert main(["serve"]) == 0
    assert passed["proxy_headers"] is True
    assert passed["forwarded_allow_ips"] == "10.0.0.0/8,192.168.1.2"
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "load-balancer")
    assert main(["serve"]) == 2  # refused: a name would silently trust nobody
