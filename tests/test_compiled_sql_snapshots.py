"""The SQL the compiled read path runs for the benchmark workloads, pinned as text.

A change to how a workload's statement is built shows up here, in review, as a diff of SQL -
not only as a change in bench figures. Regenerate after an intended change with
``UPDATE_SNAPSHOTS=1 python3 dev.py test tests/test_compiled_sql_snapshots.py``.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import orjson
import pytest
from graphql import GraphQLSchema

from app.config import Settings
from app.db.paging import encode_cursor
from bench.perf import BACKWARD, MORE_WORKLOADS, WORKLOADS
from schema import build_schema
from schema.compiled.compiler import compile_operation, select_operation
from schema.compiled.plan import Plan
from schema.compiled.reads import CompiledReads
from schema.compiled.statements import Renderer
from schema.limits import Documents

SNAPSHOTS = Path(__file__).parent / "snapshots" / "compiled_sql"
CURSOR = encode_cursor("NAME_ASC", ["Contact 00600", uuid.UUID(int=601).hex])
CASES = {
    **WORKLOADS,
    **MORE_WORKLOADS,
    "Q_backward": BACKWARD % orjson.dumps(CURSOR).decode(),
}


class _Urls:
    """CompiledReads wants download URLs only to finish responses; rendering needs none."""

    signer = None


@pytest.fixture(scope="module")
def reads() -> tuple[CompiledReads, GraphQLSchema, Documents]:
    settings = Settings()
    schema = build_schema(settings)
    compiled = CompiledReads(
        schema=schema._schema,
        documents=schema.documents,
        settings=settings,
        db=None,  # type: ignore[arg-type]
        urls=_Urls(),  # type: ignore[arg-type]
    )
    return compiled, schema._schema, schema.documents


def rendered(reads: CompiledReads, schema: GraphQLSchema, query: str) -> str:
    document = reads.documents.parse(query)
    operation = select_operation(document, None)
    assert operation is not None
    plan: Plan = compile_operation(schema, document, operation)
    bound = reads.bind(plan, {}, None)
    assert bound is not None, "the workload does not bind"
    statement = Renderer(plan, bound.shape, "cgurlMARKER:", "cgcursorMARKER:").render()
    keys = [a.key if a.key is not None else ("constant", a.constant) for a in statement.arguments]
    return f"{statement.sql}\n\n-- parameters: {keys}\n"


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_workload_statement_is_the_pinned_one(
    name: str, reads: tuple[CompiledReads, GraphQLSchema, Documents]
) -> None:
    compiled, schema, _ = reads
    text = rendered(compiled, schema, CASES[name])
    snapshot = SNAPSHOTS / f"{name}.sql"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(text)
    assert snapshot.exists(), f"no snapshot yet: run with UPDATE_SNAPSHOTS=1 to make {snapshot}"
    assert text == snapshot.read_text(), f"the SQL of {name} changed; review, then update it"
