"""Liveness and readiness probes."""

from __future__ import annotations

import httpx

from app.config import Settings
from app.server import create_app


async def test_healthz_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_database_files_and_redis(
    client: httpx.AsyncClient, backend_settings: Settings
) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    expected = {"database": "ok", "files": "ok"}
    if backend_settings.redis_url:
        expected["redis"] = "ok"
    assert response.json() == {"status": "ok", "checks": expected}


async def test_readyz_reports_an_unwritable_files_root(backend_settings: Settings) -> None:
    blocker = backend_settings.var_dir.parent / "not-a-directory"
    blocker.write_text("a file where the files root should be")
    broken = create_app(backend_settings.model_copy(update={"files_root": blocker / "files"}))
    transport = httpx.ASGITransport(app=broken)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/readyz")
    finally:
        await broken.state.db.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["files"].startswith("failing")


async def test_readyz_reports_an_unreachable_database(backend_settings: Settings) -> None:
    unreachable = backend_settings.model_copy(
        update={"database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/nothing"}
    )
    broken = create_app(unreachable)
    transport = httpx.ASGITransport(app=broken)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/readyz")
    finally:
        await broken.state.db.dispose()
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("failing")
