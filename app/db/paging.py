"""Keyset (cursor) pagination: stable under concurrent inserts, an index seek per page.

A cursor carries the sort key's name and the row's values for that key (ending in the id), so a
cursor made under one ordering is refused under another instead of silently skipping rows.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from app.db.sql_json import isoformat_sql, uuid_hex_sql

T = TypeVar("T")
MAX_CURSOR_LENGTH = 1024


class InvalidCursor(ValueError):
    """The client sent a cursor we did not make, or one made for another ordering."""


class InvalidWindow(ValueError):
    """first/last/after/before do not describe a page we are willing to serve."""


@dataclass(frozen=True, slots=True)
class SortKey:
    """An ordering of a table: columns ending in a unique tie-break, all in one direction."""

    name: str
    columns: tuple[InstrumentedAttribute[Any], ...]
    descending: bool = False

    def on(self, source: Any) -> tuple[Any, ...]:
        """The key's columns as seen through ``source`` (an aliased entity over a subquery);
        the mapped class's own columns when None."""
        if source is None:
            return self.columns
        return tuple(getattr(source, c.key) for c in self.columns)

    def order_by(self, *, reverse: bool = False, on: Any = None) -> list[ColumnElement[Any]]:
        descending = self.descending != reverse
        return [c.desc() if descending else c.asc() for c in self.on(on)]

    def values_of(self, row: Any) -> tuple[Any, ...]:
        return tuple(getattr(row, c.key) for c in self.columns)

    def beyond(self, values: Sequence[Any], *, forward: bool) -> ColumnElement[bool]:
        """Rows strictly after (forward) or before the given key values in this ordering.

        Spelled out as (a > x) OR (a = x AND b > y) rather than a row-value comparison: both
        databases use the (a, b) index for it, and it works in every SQLite build. ``values``
        are Python values (the resolvers) or bound parameters (the compiled read path).
        """
        greater = forward != self.descending
        clauses: list[ColumnElement[bool]] = []
        for i, column in enumerate(self.columns):
            strict = column > values[i] if greater else column < values[i]
            equal = [self.columns[j] == values[j] for j in range(i)]
            clauses.append(and_(*equal, strict) if equal else strict)
        return or_(*clauses)

    def json_values(self, on: Any) -> list[ColumnElement[Any]]:
        """The cursor's values (as ``json_value`` makes them) in SQL, for the compiled path."""
        return [json_value_sql(column) for column in self.on(on)]

    def encode(self, row: Any) -> str:
        return encode_cursor(self.name, [json_value(v) for v in self.values_of(row)])

    def decode(self, cursor: str) -> tuple[Any, ...]:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise InvalidCursor("the cursor is not one this server issued")
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            payload = json.loads(raw)
        except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
            raise InvalidCursor("the cursor is not one this server issued") from None
        if not isinstance(payload, list) or len(payload) != len(self.columns) + 1:
            raise InvalidCursor("the cursor is not one this server issued")
        if payload[0] != self.name:
            raise InvalidCursor(f"the cursor was issued for another ordering than {self.name}")
        try:
            return tuple(
                _from_json(v, c.type.python_type)
                for v, c in zip(payload[1:], self.columns, strict=True)
            )
        except (TypeError, ValueError, OverflowError):
            raise InvalidCursor("the cursor is not one this server issued") from None


def encode_cursor(sort_name: str, values: Sequence[Any]) -> str:
    """A cursor from a sort's name and a row's key values, already in their JSON form
    (datetimes as isoformat(), uuids as hex) - the compiled read path makes those in SQL."""
    raw = json.dumps([sort_name, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def json_value(value: Any) -> Any:
    """A key value in the cursor's JSON; json_value_sql below is the same rule in SQL."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return value.hex
    return value


def json_value_sql(column: Any) -> ColumnElement[Any]:
    """``json_value`` of a key column, made by PostgreSQL."""
    python_type = column.type.python_type
    if python_type is datetime:
        return isoformat_sql(column)
    if python_type is uuid.UUID:
        return uuid_hex_sql(column)
    return column  # type: ignore[no-any-return]


def _from_json(value: Any, python_type: type) -> Any:
    if python_type is datetime:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive datetime in cursor")
        return parsed.astimezone(UTC)
    if python_type is uuid.UUID:
        return uuid.UUID(hex=value)
    if python_type is int and isinstance(value, bool):
        raise TypeError("bool is not an int")
    if not isinstance(value, python_type):
        raise TypeError(f"expected {python_type.__name__}")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("NUL in cursor")
    return value


@dataclass(frozen=True, slots=True)
class Window:
    """A validated slice request: ``limit`` rows forward from ``after`` or back from ``before``."""

    limit: int
    forward: bool = True
    after: str | None = None
    before: str | None = None

    @classmethod
    def from_arguments(
        cls,
        *,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
        default_size: int,
        max_size: int,
    ) -> Window:
        if first is not None and last is not None:
            raise InvalidWindow("pass either first or last, not both")
        for name, value in (("first", first), ("last", last)):
            if value is not None and value < 0:
                raise InvalidWindow(f"{name} must not be negative")
            if value is not None and value > max_size:
                raise InvalidWindow(f"{name} must not exceed {max_size} (the maximum page size)")
        if last is not None:
            return cls(limit=last, forward=False, after=after, before=before)
        return cls(limit=default_size if first is None else first, after=after, before=before)


@dataclass(slots=True)
class Page(Generic[T]):
    rows: list[T]
    cursors: list[str]
    #: None means "not known without another query"; the caller asks only when it must.
    has_next: bool | None
    has_previous: bool | None
    extra: dict[str, Any] = field(default_factory=dict)


def probe_limit(limit: Any) -> Any:
    """One row more than the page: whether it comes back says whether more rows exist past
    the page. ``limit`` is an int (the resolvers) or a bound parameter (the compiled path)."""
    return limit + 1


def ordered_window(
    statement: Select[Any],
    sort: SortKey,
    *,
    after: Sequence[Any] | None,
    before: Sequence[Any] | None,
    forward: bool,
) -> Select[Any]:
    """A window's bounds and order, without its limit: rows past ``after``, before
    ``before``, nearest first in the direction of paging."""
    bounds = bounded(statement, sort, after=after, before=before)
    return bounds.order_by(*sort.order_by(reverse=not forward))


def bounded(
    statement: Select[Any],
    sort: SortKey,
    *,
    after: Sequence[Any] | None,
    before: Sequence[Any] | None,
) -> Select[Any]:
    """Rows strictly past the key ``after`` and before the key ``before`` (either may be
    None): Python values for the resolvers, bound parameters for the compiled path."""
    if after is not None:
        statement = statement.where(sort.beyond(after, forward=True))
    if before is not None:
        statement = statement.where(sort.beyond(before, forward=False))
    return statement


def windowed(statement: Select[Any], sort: SortKey, window: Window) -> Select[Any]:
    """Apply a window's bounds, order and limit (+1 to learn whether more rows exist)."""
    after = sort.decode(window.after) if window.after is not None else None
    before = sort.decode(window.before) if window.before is not None else None
    bounded = ordered_window(statement, sort, after=after, before=before, forward=window.forward)
    return bounded.limit(probe_limit(window.limit))


class Flag(Enum):
    """Where a pageInfo flag comes from."""

    MORE = "more"  # the probe row past the page
    BEHIND = "behind"  # a row on the other side of the cursor (a query of its own)
    FALSE = "false"  # paging from the list's own end: nothing is there


def page_flags(*, forward: bool, cursor_given: bool) -> tuple[Flag, Flag]:
    """(hasNextPage, hasPreviousPage) for a window: the direction of paging learns "more"
    from the probe row; the other asks whether anything lies behind the cursor it started at.
    The resolvers (shape_page) and the compiled path both read this."""
    other = Flag.BEHIND if cursor_given else Flag.FALSE
    return (Flag.MORE, other) if forward else (other, Flag.MORE)


def shape_page(rows: Sequence[T], sort: SortKey, window: Window) -> Page[T]:
    """Turn the rows a windowed query returned (one extra at most) into a page."""
    more = len(rows) > window.limit
    kept = list(rows[: window.limit])
    if not window.forward:
        kept.reverse()
    cursors = [sort.encode(row) for row in kept]
    cursor = window.after if window.forward else window.before
    known = {Flag.MORE: more, Flag.BEHIND: None, Flag.FALSE: False}
    has_next, has_previous = page_flags(forward=window.forward, cursor_given=cursor is not None)
    return Page(kept, cursors, has_next=known[has_next], has_previous=known[has_previous])


def behind_statement(
    statement: Select[Any], sort: SortKey, values: Sequence[Any], *, forward: bool
) -> Select[Any]:
    """Rows at or behind the cursor whose key is ``values``: pageInfo's "other direction"."""
    return statement.order_by(None).where(not_(sort.beyond(values, forward=forward)))


def count_statement(statement: Select[Any]) -> Select[Any]:
    """How many rows a listing holds, across all pages (totalCount)."""
    return select(func.count()).select_from(statement.order_by(None).subquery())


async def fetch_page(
    session: AsyncSession, statement: Select[Any], sort: SortKey, window: Window
) -> Page[Any]:
    """Fetch one page of ORM entities selected by ``statement`` (first: 0 still learns
    whether rows exist past the cursor: the query asks for limit + 1)."""
    rows = (await session.scalars(windowed(statement, sort, window))).all()
    return shape_page(rows, sort, window)


async def exists_behind(
    session: AsyncSession, statement: Select[Any], sort: SortKey, cursor: str, *, forward: bool
) -> bool:
    """Is there a row at or behind ``cursor`` when paging forward (or ahead of it, backward)?

    This is pageInfo's "other direction" flag; it costs a query, so it runs only when asked.
    """
    probe = behind_statement(statement, sort, sort.decode(cursor), forward=forward).limit(1)
    return bool((await session.execute(select(probe.exists()))).scalar_one())


async def count(session: AsyncSession, statement: Select[Any]) -> int:
    total = await session.scalar(count_statement(statement))
    return int(total or 0)
