"""Filters shared by the listings: wildcard-safe text search and created-at ranges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

LIKE_ESCAPE = "\\"


#: A filter's values: Python values (the resolvers) or bound parameters (the compiled path,
#: which renders a listing's statement once and binds the values per request).
Term = str | ColumnElement[str]
Moment = datetime | ColumnElement[datetime]


@dataclass(frozen=True, slots=True)
class ListFilter:
    """What every listing can be narrowed by; all given conditions must hold. An empty search
    is no condition (it is None here, so a statement never tests a value's truth)."""

    search: Term | None = None
    created_since: Moment | None = None
    created_before: Moment | None = None

    def __post_init__(self) -> None:
        if isinstance(self.search, str) and not self.search:
            object.__setattr__(self, "search", None)

    @property
    def is_empty(self) -> bool:
        return self.search is None and self.created_since is None and self.created_before is None


async def lists(
    session: AsyncSession, statement: Select[Any], key: ColumnElement[Any], value: Any
) -> bool:
    """Whether the listing ``statement`` includes the row whose ``key`` is ``value`` - what a
    live, filtered list asks of each changed row."""
    return bool(await session.scalar(select(statement.where(key == value).exists())))


def like_pattern(term: str) -> str:
    """``%term%`` (stripped) with the user's own %, _ and backslash taken literally."""
    escaped = (
        term.strip()
        .replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


def text_search(term: Term, *columns: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
    """Case-insensitive substring match on any of the columns (ILIKE on PostgreSQL). A bound
    parameter must carry ``like_pattern(term)``."""
    pattern = like_pattern(term) if isinstance(term, str) else term
    return or_(*(column.ilike(pattern, escape=LIKE_ESCAPE) for column in columns))


def _utc(moment: Moment) -> Moment:
    if not isinstance(moment, datetime):
        return moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def created_between(
    column: InstrumentedAttribute[datetime], since: Moment | None, before: Moment | None
) -> list[ColumnElement[bool]]:
    """``since`` inclusive, ``before`` exclusive; a time without zone is read as UTC."""
    clauses: list[ColumnElement[bool]] = []
    if since is not None:
        clauses.append(column >= _utc(since))
    if before is not None:
        clauses.append(column < _utc(before))
    return clauses
