"""The SQL twins of the resolvers' encoders make the same text as Python, on awkward values.

The compiled read path builds responses in PostgreSQL; a timestamp, global id or cursor value
that came out one character different would be a different answer. (The differential test
compares whole responses; this pins each encoder on the values most likely to differ.)
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import DateTime, Text, Uuid, bindparam, cast, func, select
from sqlalchemy.sql.elements import ColumnElement
from starlette.applications import Starlette

from app.db.paging import json_value, json_value_sql
from app.db.sql_json import DIALECT, isoformat_sql
from schema.ids import global_id_sql, to_global_id

MOMENTS = [
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 10, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 6, 1, 0, 0, 0, 123000, tzinfo=UTC),
    datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=UTC),  # (asyncpg sends datetime.min as -infinity)
]
KEYS = [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.uuid4()]
#: Long enough that PostgreSQL's base64 would break the line (at 76 characters).
TYPE_NAMES = ["Contact", "StoredFile", "T" * 90]


async def evaluate(app: Starlette, values: list[ColumnElement[Any]]) -> list[Any]:
    """The values, made by PostgreSQL, through the compiled path's own connections."""
    if app.state.db.dialect == "sqlite":
        pytest.skip("the compiled path runs on PostgreSQL only")
    compiled = select(cast(func.json_build_array(*values), Text)).compile(dialect=DIALECT)
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    found: list[Any] = json.loads(await app.state.db.fetch_json(str(compiled), params))
    return found


async def test_timestamps_are_python_isoformat(app: Starlette) -> None:
    column = [bindparam(f"t{i}", m, DateTime(timezone=True)) for i, m in enumerate(MOMENTS)]
    made = await evaluate(app, [isoformat_sql(c) for c in column])
    assert made == [m.isoformat() for m in MOMENTS]


async def test_global_ids_are_to_global_id(app: Starlette) -> None:
    pairs = [(name, key) for name in TYPE_NAMES for key in KEYS]
    made = await evaluate(
        app, [global_id_sql(n, bindparam(f"k{i}", k, Uuid())) for i, (n, k) in enumerate(pairs)]
    )
    assert made == [to_global_id(name, key) for name, key in pairs]


async def test_cursor_values_are_the_cursors_json(app: Starlette) -> None:
    moments = [bindparam(f"m{i}", m, DateTime(timezone=True)) for i, m in enumerate(MOMENTS)]
    keys = [bindparam(f"u{i}", k, Uuid()) for i, k in enumerate(KEYS)]
    made = await evaluate(app, [json_value_sql(c) for c in [*moments, *keys]])
    assert made == [json_value(v) for v in [*MOMENTS, *KEYS]]
