"""First run: seeded roles, a generated administrator on the embedded default, createuser."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app.db.migrate import upgrade
from app.server import create_app
from tests.backends import sqlite_settings
from tests.conftest import PASSWORD, run_cli

LOGIN = (
    "mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) { token } }"
)


async def test_embedded_first_start_creates_an_admin_and_shows_the_password_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    import httpx

    caplog.set_level(logging.DEBUG)
    settings = sqlite_settings(tmp_path)
    await upgrade(settings)
    for start in (1, 2):
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            printed = capsys.readouterr().err
            if start == 1:
                assert "username: admin" in printed
                password = printed.split("password: ")[1].split()[0]
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                    body = (
                        await http.post(
                            "/graphql",
                            json={"query": LOGIN, "variables": {"u": "admin", "p": password}},
                        )
                    ).json()
                assert body["data"]["login"]["token"]
            else:
                assert "password" not in printed  # shown once, never again
    assert password not in caplog.text


async def test_production_start_creates_no_user(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = sqlite_settings(tmp_path, database_url=f"sqlite:///{tmp_path}/prod.db")
    assert not settings.is_embedded
    await upgrade(settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert "password" not in capsys.readouterr().err


def test_createuser_cli(tmp_path: Path, live_env: dict[str, str]) -> None:
    env = {**live_env, "VAR_DIR": str(tmp_path / "var"), "FILES_ROOT": str(tmp_path / "files")}
    assert run_cli(env, "migrate").returncode == 0
    made = run_cli(env, "createuser", "cli-admin", "--admin", "--password-stdin", stdin=PASSWORD)
    assert made.returncode == 0, made.stderr
    assert "created cli-admin, an administrator" in made.stdout
    assert PASSWORD not in made.stdout + made.stderr

    again = run_cli(env, "createuser", "CLI-admin", "--password-stdin", stdin=PASSWORD)
    assert again.returncode == 1
    assert "username: is already taken" in again.stderr
    assert "Traceback" not in again.stderr

    weak = run_cli(env, "createuser", "weakling", "--password-stdin", stdin="123")
    assert weak.returncode == 1
    assert "password: must be at least 10 characters" in weak.stderr

    generated = run_cli(env, "createuser", "generated")  # no tty: generate and show once
    assert generated.returncode == 0
    assert "password (shown once): " in generated.stdout
