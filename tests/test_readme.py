"""What the README promises frontend developers holds: its operations validate against the
schema, its codegen and Relay recipes map every custom scalar, its upload recipes send the
preflight header, and its list of error codes names every code a client can see."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from graphql import GraphQLError, GraphQLScalarType, parse, specified_scalar_types, validate

from app.config import Settings
from app.error_codes import ErrorCode
from app.http.uploads import CSRF_HEADERS
from app.services.errors import FieldErrorCode
from schema import build_schema

README = Path(__file__).resolve().parents[1] / "README.md"
FRONTEND = "## For frontend developers"


def section(heading: str) -> str:
    """From ``heading`` to the next heading of the same level."""
    text = README.read_text()
    assert heading in text, f"README has no {heading!r}"
    level = heading.split(" ", 1)[0]
    start = text.index(heading) + len(heading)
    following = re.search(rf"^{level} ", text[start:], re.MULTILINE)
    return text[start : start + following.start()] if following else text[start:]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def operations(text: str) -> list[str]:
    """Every GraphQL operation shown: ```graphql blocks and gql`...` in the code."""
    code = "\n".join(blocks(text, "ts") + blocks(text, "js"))
    return blocks(text, "graphql") + re.findall(r"\bgql`(.*?)`", code, re.DOTALL)


def test_the_frontend_section_shows_operations() -> None:
    found = operations(section(FRONTEND))
    assert len(found) >= 2
    assert any("Upload!" in operation for operation in found)
    assert any(operation.lstrip().startswith("subscription") for operation in found)


def test_every_operation_of_the_frontend_section_validates() -> None:
    schema = build_schema(Settings.model_construct())._schema
    problems = []
    for operation in operations(section(FRONTEND)):
        try:
            errors = validate(schema, parse(operation))
        except GraphQLError as error:
            errors = [error]
        problems += [f"{error.message}\n{operation}" for error in errors]
    assert problems == []


def custom_scalars() -> set[str]:
    schema = build_schema(Settings.model_construct())._schema
    return {
        name
        for name, type_ in schema.type_map.items()
        if isinstance(type_, GraphQLScalarType)
        and name not in specified_scalar_types
        and not name.startswith("__")
    }


EXPECTED_TYPES = {"DateTime": "string", "SafeInt": "number", "Upload": "File"}


def test_codegen_and_relay_map_every_custom_scalar() -> None:
    text = section(FRONTEND)
    assert custom_scalars() == set(EXPECTED_TYPES)
    (codegen,) = [block for block in blocks(text, "ts") if "CodegenConfig" in block]
    mapping = re.search(r"scalars: \{([^}]*)\}", codegen)
    assert mapping is not None
    assert dict(re.findall(r'(\w+): "(\w+)"', mapping.group(1))) == EXPECTED_TYPES
    (relay,) = [json.loads(block) for block in blocks(text, "json") if "customScalarTypes" in block]
    assert relay["customScalarTypes"] == EXPECTED_TYPES
    assert relay["schema"].endswith("/schema.graphql")


@pytest.mark.parametrize("client", ["createUploadLink", "fetchExchange"])
def test_upload_recipes_send_a_preflight_header(client: str) -> None:
    (recipe,) = [block for block in blocks(section(FRONTEND), "ts") if client in block]
    headers = re.findall(r'"([A-Za-z-]+)": "true"', recipe)
    assert any(header.lower() in CSRF_HEADERS for header in headers), recipe


def test_the_error_list_names_every_code_a_client_can_see() -> None:
    listed = set(re.findall(r"`([A-Z_]+)`", section("### Errors")))
    codes = {code.value for code in ErrorCode}
    codes |= {code.value for code in FieldErrorCode}
    assert codes - listed == set()


def test_the_configuration_table_documents_every_setting() -> None:
    documented = set(re.findall(r"`([A-Z0-9_]+)`", section("## Configuration")))
    assert (
        sorted(name.upper() for name in Settings.model_fields if name.upper() not in documented)
        == []
    )
