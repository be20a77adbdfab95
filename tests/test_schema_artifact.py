"""The schema as an artifact: schema.graphql matches the code, `contentgraph schema` prints it
without any service, and the API itself says how to upload and which entities exist."""

from __future__ import annotations

import asyncio
import difflib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLScalarType, parse, validate

from app.config import Settings
from app.http.uploads import CSRF_HEADERS
from app.storage.entities import ENTITIES
from schema import build_schema, sdl

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "schema.graphql"
REGENERATE = "contentgraph schema > schema.graphql"


def default_settings() -> Settings:
    """The settings schema.graphql is made with: the defaults, whatever this shell sets."""
    return Settings.model_construct()


def clean_environment() -> dict[str, str]:
    """This process's environment without any setting, so the defaults apply."""
    settings = {name.upper() for name in Settings.model_fields}
    return {k: v for k, v in os.environ.items() if k.upper() not in settings}


def test_schema_graphql_is_the_schema_of_the_code() -> None:
    made = sdl(default_settings())
    kept = SCHEMA_FILE.read_text() if SCHEMA_FILE.exists() else ""
    if kept != made:
        diff = "".join(
            list(
                difflib.unified_diff(
                    kept.splitlines(keepends=True),
                    made.splitlines(keepends=True),
                    "schema.graphql",
                    "the code",
                )
            )[:40]
        )
        pytest.fail(f"schema.graphql is not the schema of the code; run `{REGENERATE}`\n{diff}")


@pytest.mark.parametrize(
    "changes",
    [
        {"upload_max_file_bytes": 5, "upload_max_files": 1, "page_size_max": 5},
        {"page_size_default": 3, "max_query_depth": 4, "max_query_tokens": 100},
        {"public_url": "https://api.example.com", "anonymous_read": True},
        {"storage_limits": {"albums.photos": {"max_bytes": 1, "max_files": 2}}},
        {"operation_timeout_seconds": 1.0, "compiled_reads": False},
    ],
)
def test_the_schema_is_the_same_whatever_the_settings(changes: dict[str, Any]) -> None:
    """One schema.graphql serves every deployment: no setting may leak into the SDL."""
    assert sdl(default_settings().model_copy(update=changes)) == sdl(default_settings())


def test_contentgraph_schema_prints_it_without_database_redis_or_key(tmp_path: Path) -> None:
    """Nothing listens at these addresses: a start-up check or a connection would fail."""
    env = clean_environment()
    env.update(
        DATABASE_URL="postgresql://nobody@127.0.0.1:9/nothing",
        REDIS_URL="redis://127.0.0.1:9/0",
        FILES_ROOT=str(tmp_path / "files"),
        PYTHONPATH=str(ROOT),
    )
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "schema"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == sdl(default_settings())
    assert list(tmp_path.iterdir()) == []  # no var/secret_key, no files root, no database


def test_upload_says_how_to_upload() -> None:
    upload = build_schema(default_settings())._schema.type_map["Upload"]
    assert isinstance(upload, GraphQLScalarType)
    text = upload.description or ""
    assert "graphql-multipart-request-spec" in text
    for header in CSRF_HEADERS:  # every header the endpoint accepts, and no other
        assert header.lower() in text.lower(), header
    for setting in ("UPLOAD_MAX_FILE_BYTES", "UPLOAD_MAX_FILES", "STORAGE_LIMITS"):
        assert setting in text
    assert "25 MiB a file and 20 files a request" in text
    assert "PAYLOAD_TOO_LARGE" in text


def test_storage_entities_are_an_enum_of_every_entity() -> None:
    schema = build_schema(default_settings())._schema
    enum = schema.type_map["StorageEntity"]
    assert isinstance(enum, GraphQLEnumType)
    assert {value.value for value in enum.values.values()} == set(ENTITIES)
    assert set(enum.values) == {"CONTACTS_AVATAR", "ALBUMS_PHOTOS", "USERS_AVATAR"}
    for name, value in enum.values.items():
        assert f"`{value.value}`" in (value.description or ""), name
    subscription = schema.subscription_type
    assert subscription is not None
    assert str(subscription.fields["fileChanged"].args["entity"].type) == "StorageEntity!"


EVERY_ENTITY = "StorageEntity is one of: CONTACTS_AVATAR, ALBUMS_PHOTOS, USERS_AVATAR."


@pytest.mark.parametrize("given", ["PHOTOS", '"contacts.avatar"', "users_avatar"])
def test_an_unknown_entity_in_the_document_lists_the_valid_ones(given: str) -> None:
    schema = build_schema(default_settings())._schema
    document = parse(f"subscription {{ fileChanged(entity: {given}) {{ kind }} }}")
    (error,) = validate(schema, document)
    assert EVERY_ENTITY in error.message, error.message


def test_an_unknown_entity_in_the_variables_lists_the_valid_ones() -> None:
    schema = build_schema(default_settings())

    async def first() -> Any:
        stream = await schema.subscribe(
            "subscription($e: StorageEntity!) { fileChanged(entity: $e) { kind } }",
            variable_values={"e": "albums.photos"},
        )
        if not hasattr(stream, "__anext__"):
            return stream
        return await stream.__anext__()

    result = asyncio.run(first())
    (error,) = result.errors
    assert error.extensions["code"] == "BAD_USER_INPUT"
    assert EVERY_ENTITY in error.message, error.message
