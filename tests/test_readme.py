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
from app.db.database import connections_per_process
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


def test_the_settings_table_names_every_setting() -> None:
    """Each variable of the Configuration table is a setting, and each setting is there."""
    rows = [row for row in section("## Configuration").splitlines() if row.startswith("| `")]
    listed = {
        name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])
    }
    settings = {name.upper() for name in Settings.model_fields}
    assert settings - listed == set(), "settings missing from the README's table"
    assert listed - settings == set(), "the README's table names variables that are not settings"


#: PostgreSQL's max_connections and reserved slots by default, as the README counts them.
STOCK_AVAILABLE = 100 - 3


def _per_process(**changes: object) -> int:
    return connections_per_process(Settings.model_construct().model_copy(update=changes))


def test_the_connection_sizing_is_what_the_code_counts() -> None:
    """The README's formula and its worked numbers are what preflight and the pools count."""
    for pool in (1, 5, 10, 40):
        for background in (1, 2, 7):
            assert _per_process(db_pool_size=pool, background_pool_size=background) == (
                3 * pool + background
            )
            assert _per_process(
                db_pool_size=pool, background_pool_size=background, compiled_reads=False
            ) == (2 * pool + background)
    text = " ".join(section("## Scaled deployment").split())  # lines rewrapped freely
    assert "3 x DB_POOL_SIZE + BACKGROUND_POOL_SIZE" in text
    assert "2 x DB_POOL_SIZE with COMPILED_READS=false" in text
    default = _per_process()
    assert f"With the defaults a process may open {default} PostgreSQL connections" in text
    hosts, workers, needed = map(
        int,
        re.search(r"(\d+) hosts of (\d+) workers need (\d+)", text).groups(),  # type: ignore[union-attr]
    )
    assert hosts * workers * default == needed
    smaller, total = map(int, re.search(r"`DB_POOL_SIZE=(\d+)` (\d+)", text).groups())  # type: ignore[union-attr]
    assert hosts * workers * _per_process(db_pool_size=smaller) == total
    assert f"Two replicas of {default} connections fit" in text
    assert f"still fits ({3 * default} of {STOCK_AVAILABLE})" in text
    assert 4 * default > STOCK_AVAILABLE  # "a fourth needs a smaller DB_POOL_SIZE"

    checks = " ".join(section("### Start-up checks").split())
    fitting = max(w for w in range(1, 20) if w * default <= STOCK_AVAILABLE)
    assert f"The defaults allow {fitting} workers" in checks
    pool = max(
        p for p in range(1, 11) if (fitting + 1) * _per_process(db_pool_size=p) <= STOCK_AVAILABLE
    )
    assert f"`--workers {fitting + 1}` needs `DB_POOL_SIZE` {pool} or less" in checks
