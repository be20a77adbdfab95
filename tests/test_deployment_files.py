"""docker-compose.yml, the Dockerfile and deploy/nginx.conf cannot run here (no Docker): keep
them consistent with the code. (tests/test_proxy.py runs the nginx configuration for real.)"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from redis.asyncio import BlockingConnectionPool

from app import preflight
from app.cli import build_parser, main
from app.config import Settings, load_settings
from app.db.database import connections_per_process
from app.http.event_streams import HEADERS, KEEP_ALIVE_SECONDS
from app.http.fast_reads import GRAPHQL_PATH
from app.kv import connection
from app.server import EVENT_STREAMS_PATH
from tests import nginx_config

ROOT = Path(__file__).resolve().parents[1]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
KNOWN = {name.upper() for name in Settings.model_fields}
#: PostgreSQL's and Redis' defaults, unless the compose file's commands change them.
POSTGRES_MAX_CONNECTIONS, POSTGRES_RESERVED = 100, 3
REDIS_MAXCLIENTS = 10_000
#: uvicorn pings websockets this often (its default): a proxy must wait longer than that.
WS_PING_SECONDS = 20.0


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_sets_only_known_settings() -> None:
    for name in ("app", "migrate"):
        environment = _compose()["services"][name]["environment"]
        assert set(environment) <= KNOWN, set(environment) - KNOWN


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


# -- the scaled profile ------------------------------------------------------------------------


def _defaults(value: object) -> str:
    """A compose value as it is with nothing set: ${X:-default} is the default, ${X:?...} a
    stand-in (the variables the operator must set), $$ a dollar."""
    text = str(value)
    text = re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", text)
    text = re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: "x" * 48, text)
    return text.replace("$$", "$")


def _scaled() -> dict[str, dict[str, Any]]:
    """The services `docker compose --profile scaled up proxy` starts: the proxy and all it
    depends on, transitively."""
    services: dict[str, dict[str, Any]] = _compose()["services"]
    started, pending = {}, ["proxy"]
    while pending:
        name = pending.pop()
        if name not in started:
            started[name] = services[name]
            pending += list(services[name].get("depends_on", {}))
    return started


def _replica_environment() -> dict[str, str]:
    return {name: _defaults(value) for name, value in _scaled()["replica"]["environment"].items()}


def _replica_settings() -> Settings:
    """The replicas' settings, as the server would load them."""
    environment = {k.lower(): v for k, v in _replica_environment().items()}
    return load_settings(**environment)


def test_the_scaled_profile_starts_from_the_proxy() -> None:
    """Everything the replicas need comes up with the proxy; the single `app` does not (its
    files would live on its own volume, and its pools would not fit beside the replicas')."""
    scaled = _scaled()
    assert set(scaled) == {"proxy", "replica", "postgres", "redis", "migrate", "minio"} | {
        "minio-bucket"
    }
    for name, service in scaled.items():
        assert service.get("profiles", ["scaled"]) == ["scaled"], name
    assert _compose()["services"]["app"].get("profiles") is None  # `docker compose up` as before
    replica = scaled["replica"]
    assert replica["deploy"]["replicas"] == 2
    assert "ports" not in replica  # reached through the proxy only
    conditions = {name: d["condition"] for name, d in replica["depends_on"].items()}
    assert conditions == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "migrate": "service_completed_successfully",
        "minio-bucket": "service_completed_successfully",
    }
    assert scaled["proxy"]["depends_on"] == {"replica": {"condition": "service_healthy"}}


def test_the_scaled_profile_sets_only_known_settings() -> None:
    assert set(_replica_environment()) - KNOWN == set()
    settings = _replica_settings()
    assert settings.sqlalchemy_url.startswith("postgresql+asyncpg://")
    assert settings.redis_url is not None
    assert settings.forwarded_allow_ips == "*"  # only the proxy reaches a replica
    assert settings.storage_backend == "s3"  # files in MinIO, shared by the replicas
    assert settings.s3_bucket and settings.s3_endpoint_url


def test_the_scaled_profile_commands_parse_with_the_cli() -> None:
    """One process per replica: a single-connection event stream lives in one process, and
    the proxy routes a client to a container, never to a worker inside it."""
    program, *arguments = _scaled()["replica"]["command"]
    assert program == "contentgraph"
    parsed = build_parser().parse_args(arguments)
    assert parsed.workers == 1


def _processes() -> int:
    scaled = _scaled()
    arguments = build_parser().parse_args(scaled["replica"]["command"][1:])
    return int(scaled["replica"]["deploy"]["replicas"]) * int(arguments.workers)


def _flag(command: list[str], flag: str, default: int) -> int:
    """``-c max_connections=N`` (postgres) or ``--maxclients N`` (redis-server)."""
    words = [_defaults(word) for word in command]
    for before, word in itertools.pairwise(words):
        if before == "-c" and word.startswith(f"{flag}="):
            return int(word.split("=", 1)[1])
        if before == f"--{flag}":
            return int(word)
    return default


def test_the_scaled_profile_fits_postgres_and_redis() -> None:
    """Every replica process's pools at their fullest, together (the start-up check sees one
    replica's only): PostgreSQL's max_connections and Redis' maxclients must hold them all."""
    scaled, settings = _scaled(), _replica_settings()
    processes = _processes()
    postgres = _flag(scaled["postgres"].get("command", []), "max_connections", 100)
    needed = processes * connections_per_process(settings)
    assert needed <= postgres - POSTGRES_RESERVED, (processes, needed, postgres)
    redis = _flag(scaled["redis"].get("command", []), "maxclients", REDIS_MAXCLIENTS)
    assert processes * settings.redis_max_connections <= redis


def test_the_replicas_files_go_to_the_bucket_minio_bucket_makes() -> None:
    scaled, environment = _scaled(), _replica_environment()
    minio = {k: _defaults(v) for k, v in scaled["minio"]["environment"].items()}
    assert environment["S3_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
    assert environment["S3_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    assert len(minio["MINIO_ROOT_PASSWORD"]) >= 8  # MinIO refuses shorter ones
    assert environment["S3_ENDPOINT_URL"] == "http://minio:9000"
    assert environment["S3_ADDRESSING_STYLE"] == "path"  # MinIO has no bucket subdomains
    setup = " ".join(_defaults(part) for part in scaled["minio-bucket"]["command"])
    assert f"mc mb --ignore-existing minio/{environment['S3_BUCKET']}" in setup
    assert "mc alias set minio http://minio:9000" in setup


# -- deploy/nginx.conf -------------------------------------------------------------------------


def _nginx() -> nginx_config.Directive:
    return nginx_config.parse(NGINX_CONF.read_text())


def _server() -> nginx_config.Directive:
    return _nginx().one("http").one("server")


def test_the_proxy_mounts_this_configuration() -> None:
    proxy = _scaled()["proxy"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    (published,) = proxy["ports"]
    assert _defaults(published).endswith(":80")
    assert _server().get("listen") == ["80"]


def test_the_upstreams_are_the_replicas() -> None:
    port = _replica_environment()["PORT"]
    upstreams = _nginx().one("http").all("upstream")
    assert {upstream.args[0] for upstream in upstreams} == {"contentgraph", "contentgraph_streams"}
    for upstream in upstreams:
        (server,) = upstream.all("server")
        assert server.args[0] == f"replica:{port}"
    streams = next(u for u in upstreams if u.args == ["contentgraph_streams"])
    # a single-connection stream: reserved, opened and fed in one process
    assert streams.get("hash") == ["$remote_addr", "consistent"]
    passes = {
        location.args[-1]: location.get("proxy_pass")
        for location in _server().all("location")
        if location.get("proxy_pass")
    }
    assert passes[EVENT_STREAMS_PATH] == ["http://contentgraph_streams"]
    assert passes[GRAPHQL_PATH] == ["http://contentgraph"]


def test_websockets_upgrade_on_the_graphql_path() -> None:
    http, server = _nginx().one("http"), _server()
    graphql = server.location("=", GRAPHQL_PATH)
    assert server.get("proxy_http_version") == ["1.1"]
    headers = graphql.headers()
    assert headers["upgrade"] == "$http_upgrade"
    assert headers["connection"] == "$connection_upgrade"
    (upgrade_map,) = [
        m for m in http.all("map") if m.args == ["$http_upgrade", "$connection_upgrade"]
    ]
    values = {entry.name: entry.args for entry in upgrade_map.children}
    assert values["default"] == ["upgrade"]
    assert values[""] == [""]  # no Upgrade: no "Connection: close", the keepalive stays
    for location in (graphql, server.location("=", EVENT_STREAMS_PATH)):
        timeout = nginx_config.seconds((location.get("proxy_read_timeout") or ["60s"])[0])
        assert timeout > max(WS_PING_SECONDS, KEEP_ALIVE_SECONDS)


def test_event_streams_pass_unbuffered() -> None:
    server = _server()
    stream = server.location("=", EVENT_STREAMS_PATH)
    assert stream.get("proxy_buffering") == ["off"]
    # On /graphql event streams are unbuffered by the header the server sends with them
    # (JSON answers there stay buffered), which nothing here may tell nginx to ignore.
    assert HEADERS["X-Accel-Buffering"] == "no"
    for location in server.all("location"):
        ignored = location.get("proxy_ignore_headers") or []
        assert "X-Accel-Buffering" not in ignored


def test_body_limits_are_the_settings() -> None:
    settings = _replica_settings()
    server = _server()
    graphql = server.location("=", GRAPHQL_PATH)
    (upload_limit,) = graphql.get("client_max_body_size") or []
    assert nginx_config.size(upload_limit) == settings.multipart_max_bytes
    assert Settings.model_construct().multipart_max_bytes == settings.multipart_max_bytes
    assert graphql.get("proxy_request_buffering") == ["off"]  # uploads stream through
    (elsewhere,) = server.get("client_max_body_size") or []
    assert nginx_config.size(elsewhere) == settings.max_request_bytes
    for location in server.all("location"):
        if location is not graphql:
            assert location.get("client_max_body_size") is None


def test_every_location_tells_the_replica_who_asked() -> None:
    """A location with any proxy_set_header inherits none from its server, so each one
    carries them all; X-Forwarded-For is the client's own address, never what it sent."""
    for location in _server().all("location"):
        if location.get("proxy_pass") is None:
            continue
        headers = location.headers()
        assert headers.get("host") == "$host", location.args
        assert headers.get("x-forwarded-for") == "$remote_addr", location.args
        assert headers.get("x-forwarded-proto") == "$scheme", location.args
        assert "connection" in headers, location.args  # keepalive to the replicas


async def test_a_process_opens_at_most_redis_max_connections() -> None:
    """The one Redis pool a process has (container.build_services) is bounded by the setting
    the sizing counts - and it waits at the bound rather than failing."""
    settings = load_settings(redis_url="redis://127.0.0.1:6379/0", redis_max_connections=7)
    client = connection.connect(settings)
    assert client is not None
    try:
        pool = client.connection_pool
        assert isinstance(pool, BlockingConnectionPool)
        assert pool.max_connections == 7
    finally:
        await client.aclose()
