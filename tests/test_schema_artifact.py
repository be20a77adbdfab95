"""The API says how to upload and which storage entities exist."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLScalarType, parse, validate

from app.config import Settings
from app.http.uploads import CSRF_HEADERS
from app.storage.entities import ENTITIES
from schema import build_schema


def default_settings() -> Settings:
    """The settings schema.graphql is made with: the defaults, whatever this shell sets."""
    return Settings.model_construct()


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
