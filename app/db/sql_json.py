"""PostgreSQL expressions that make exactly the JSON values Python makes of the same data.

The compiled read path builds whole responses in SQL; every value must come out as the
resolvers render it. Each expression names the Python rule it mirrors, and
tests/test_sql_json.py holds the two to the same output on awkward values.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, String, Text, case, cast, func, literal_column
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

#: The dialect the compiled path renders for (its statements run on asyncpg connections).
DIALECT = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
_quoted = String().literal_processor(DIALECT)  # type: ignore[no-untyped-call]


def constant(text: str) -> ColumnElement[str]:
    """A string constant written into the statement by SQLAlchemy's own quoting: keys, type
    names and marker prefixes are fixed per statement, so they need no parameter."""
    assert _quoted is not None
    return literal_column(_quoted(text), Text)


def isoformat_sql(timestamp: Any) -> ColumnElement[str]:
    """``datetime.isoformat()`` of a UTC timestamp (what the DateTime scalar and cursors
    emit): microseconds only when there are some, and ``+00:00``."""
    utc = func.timezone(constant("UTC"), timestamp)
    whole = func.to_char(utc, constant('YYYY-MM-DD"T"HH24:MI:SS'))
    micro = cast(func.date_part(constant("microseconds"), utc), BigInteger)
    fraction = case(
        (micro % literal_column("1000000") == literal_column("0"), constant("")),
        else_=func.to_char(utc, constant(".US")),
    )
    return whole.concat(fraction).concat(constant("+00:00"))


def base64_sql(text: ColumnElement[str]) -> ColumnElement[str]:
    """``base64.b64encode`` of the UTF-8 text: PostgreSQL's base64 breaks lines every 76
    characters, Python's never does."""
    encoded = func.encode(func.convert_to(text, constant("UTF8")), constant("base64"))
    return func.translate(encoded, func.chr(literal_column("10")), constant(""))


def hex_sql(text: ColumnElement[str]) -> ColumnElement[str]:
    """``text.encode().hex()``: how a marker carries text through the JSON untouched."""
    return func.encode(func.convert_to(text, constant("UTF8")), constant("hex"))


def uuid_hex_sql(value: Any) -> ColumnElement[str]:
    """``uuid.hex``."""
    return func.replace(cast(value, Text), constant("-"), constant(""))


def as_text(value: Any) -> ColumnElement[str]:
    return cast(value, Text)
