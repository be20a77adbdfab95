"""Settings from the environment, and the one-line refusals of bad configuration."""

from __future__ import annotations

import dataclasses
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import (
    ConfigurationError,
    S3AddressingStyle,
    S3Serve,
    StorageBackend,
    load_settings,
)
from app.storage.entities import ENTITIES, Limits, limits_for
from app.storage.names import ALBUMS_PHOTOS, CONTACTS_AVATAR, ENTITY_NAMES, LIMIT_KEYS


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "FILES_ROOT",
        "SECRET_KEY",
        "PORT",
        "VAR_DIR",
        "STORAGE_LIMITS",
        "PUBLIC_URL",
        "STORAGE_BACKEND",
        "S3_BUCKET",
        "S3_PREFIX",
        "S3_ENDPOINT_URL",
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


def test_embedded_default_needs_no_configuration() -> None:
    settings = load_settings()
    assert settings.is_embedded
    assert settings.sqlalchemy_url == "sqlite+aiosqlite:///var/contentgraph.db"
    assert settings.redis_url is None
    assert settings.files_root == Path("files")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql://u:p@h:5433/db", "postgresql+asyncpg://u:p@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////abs/path.db", "sqlite+aiosqlite:////abs/path.db"),
    ],
)
def test_database_urls_are_normalised_to_async_drivers(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert load_settings().sqlalchemy_url == expected


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("DATABASE_URL", "mysql://root@localhost/db", "DATABASE_URL"),
        ("DATABASE_URL", "not a url", "DATABASE_URL"),
        ("REDIS_URL", "http://localhost", "REDIS_URL"),
        ("PORT", "99999", "PORT"),
        ("PORT", "eighty", "PORT"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
        ("SECRET_KEY", "short", "SECRET_KEY"),
        ("STORAGE_LIMITS", '{"albums.photo": {"max_bytes": 5}}', "unknown storage entity"),
        ("STORAGE_LIMITS", '{"albums.photos": {"max_byte": 5}}', "unknown limit 'max_byte'"),
        ("STORAGE_LIMITS", '{"albums.photos": {"max_files": 0}}', "max_files must be at least 1"),
        ("STORAGE_LIMITS", '{"albums.photos": {"max_files": -3}}', "STORAGE_LIMITS"),
        ("STORAGE_LIMITS", '{"albums.photos": {"max_bytes": "x"}}', "albums.photos.max_bytes"),
        ("STORAGE_LIMITS", '{"albums.photos": 5}', "STORAGE_LIMITS"),
        ("STORAGE_LIMITS", "{albums.photos: 5}", "STORAGE_LIMITS: not valid JSON"),
        ("PUBLIC_URL", "example.com", "absolute http:// or https:// URL"),
        ("PUBLIC_URL", "/content", "absolute http:// or https:// URL"),
        ("PUBLIC_URL", "ftp://example.com", "absolute http:// or https:// URL"),
        ("PUBLIC_URL", "https://", "absolute http:// or https:// URL"),
        ("PUBLIC_URL", "https://example.com:port", "absolute http:// or https:// URL"),
        ("PUBLIC_URL", "https://example.com/?a=1", "query or a fragment"),
        ("PUBLIC_URL", "https://example.com/#top", "query or a fragment"),
        ("PUBLIC_URL", "https://user:pw@example.com", "credentials"),
        ("PUBLIC_URL", 'https://example.com/a"b', "quotes or backslashes"),
        ("PUBLIC_URL", "https://exämple.com", "xn--"),
        ("STORAGE_BACKEND", "s3", "STORAGE_BACKEND=s3 needs S3_BUCKET"),
        ("STORAGE_BACKEND", "ftp", "STORAGE_BACKEND"),
        ("S3_ACCESS_KEY_ID", "AKIA", "go together"),
        ("S3_SECRET_ACCESS_KEY", "s3cr3t", "go together"),
        ("S3_ENDPOINT_URL", "minio:9000", "S3_ENDPOINT_URL: must be an http:// or https:// URL"),
        ("S3_ADDRESSING_STYLE", "dns", "S3_ADDRESSING_STYLE"),
        ("S3_SERVE", "cdn", "S3_SERVE"),
        ("S3_PART_BYTES", "1048576", "S3_PART_BYTES"),
        ("S3_PREFIX", "a//b", "S3_PREFIX"),
        ("S3_PREFIX", "../up", "S3_PREFIX"),
    ],
)
def test_invalid_values_fail_with_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://api.example.com", "https://api.example.com"),
        ("https://api.example.com/", "https://api.example.com"),
        (" http://127.0.0.1:8000/content/ ", "http://127.0.0.1:8000/content"),
        ("", None),
    ],
)
def test_public_url_is_kept_without_its_trailing_slash(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str | None
) -> None:
    """File URLs append /files/...: a trailing slash would double it."""
    monkeypatch.setenv("PUBLIC_URL", given)
    assert load_settings().public_url == expected


def test_valid_storage_limits_apply_to_their_entity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_LIMITS", '{"albums.photos": {"max_files": 50}}')
    settings = load_settings()
    assert limits_for(settings, ALBUMS_PHOTOS).max_files == 50
    assert limits_for(settings, CONTACTS_AVATAR).max_files == settings.upload_max_files


def test_the_names_the_settings_check_are_the_storage_entities() -> None:
    """STORAGE_LIMITS is checked against app.storage.names, which must match the declarations."""
    assert frozenset(ENTITIES) == ENTITY_NAMES
    assert {field.name for field in dataclasses.fields(Limits)} == LIMIT_KEYS


def test_secret_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path / "var")
    key = settings.secret()
    assert len(key) >= 32
    assert settings.secret() == key
    assert load_settings(var_dir=tmp_path / "var").secret() == key
    mode = stat.S_IMODE((tmp_path / "var" / "secret_key").stat().st_mode)
    assert mode == 0o600


def test_production_requires_an_explicit_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    with pytest.raises(ConfigurationError, match="SECRET_KEY must be set"):
        load_settings().secret()


@pytest.mark.parametrize(
    ("environment", "arguments", "fragment"),
    [
        ({"DATABASE_URL": "oracle://x"}, ["migrate"], "DATABASE_URL"),
        ({"PORT": "0"}, ["serve"], "PORT"),
        ({}, ["serve", "--workers", "2"], "needs REDIS_URL"),
        ({"DATABASE_URL": "postgresql://u@h/db"}, ["serve"], "SECRET_KEY must be set"),
        ({"STORAGE_LIMITS": '{"album.photos": {"max_files": 9}}'}, ["serve"], "STORAGE_LIMITS"),
        ({"STORAGE_LIMITS": '{"albums.photos": {"files": 9}}'}, ["gc"], "STORAGE_LIMITS"),
    ],
)
def test_cli_refuses_bad_configuration_without_a_traceback(
    tmp_path: Path, environment: dict[str, str], arguments: list[str], fragment: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "PORT"}}
    env.update(environment, VAR_DIR=str(tmp_path / "var"))
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", *arguments],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "serving" not in result.stdout + result.stderr


def test_s3_settings_are_read_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "STORAGE_BACKEND": "S3",
        "S3_BUCKET": "media",
        "S3_PREFIX": "/contentgraph/prod",
        "S3_ENDPOINT_URL": "http://minio:9000",
        "S3_ACCESS_KEY_ID": "minio",
        "S3_SECRET_ACCESS_KEY": "minio-secret",
        "S3_ADDRESSING_STYLE": "Path",
        "S3_SERVE": "redirect",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.storage_backend is StorageBackend.S3
    assert settings.s3_prefix == "contentgraph/prod/"
    assert settings.s3_addressing_style is S3AddressingStyle.PATH
    assert settings.s3_serve is S3Serve.REDIRECT
    assert "minio-secret" not in repr(settings)
    from app.storage.s3 import S3BlobStore
    from app.storage.stores import build_blob_store

    store = build_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix, store.redirect) == ("media", "contentgraph/prod/", True)
    assert store.describe() == "the bucket 'media' at http://minio:9000 under 'contentgraph/prod/'"
