"""The sort keys of a listing's ordering enum, built from its columns instead of by hand.

Every listing orders by a few columns, each ascending and descending, ties broken on a unique
column: ``NAME_ASC``, ``NAME_DESC``, ``CREATED_AT_ASC``... The enums stay written out as
classes - they are GraphQL enums and mypy reads their members - and ``sort_keys`` gives each
member its SortKey, named as the member (cursors carry that name), refusing at import time an
enum that does not match its columns exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy.orm import InstrumentedAttribute

from app.db.paging import SortKey

OrderT = TypeVar("OrderT", bound=StrEnum)

DIRECTIONS = (("ASC", False), ("DESC", True))


def sort_keys(
    orders: type[OrderT],
    columns: Mapping[str, InstrumentedAttribute[Any]],
    *,
    tie_break: InstrumentedAttribute[Any],
) -> dict[OrderT, SortKey]:
    """``{orders.<COLUMN>_ASC: SortKey("<COLUMN>_ASC", (column, tie_break)), ...}``: for each
    named column, a member per direction, whose value is its name.

    Raises TypeError when a member is missing, spelled differently from its name, or has no
    column: a listing whose ordering could not be served, or not be told apart in a cursor.
    """
    sorts: dict[OrderT, SortKey] = {}
    for prefix, column in columns.items():
        for direction, descending in DIRECTIONS:
            name = f"{prefix}_{direction}"
            member = orders.__members__.get(name)
            if member is None or member.value != name:
                raise TypeError(f"{orders.__name__} needs a member {name} = {name!r}")
            sorts[member] = SortKey(name, (column, tie_break), descending=descending)
    unsorted = [member.name for member in orders if member not in sorts]
    if unsorted:
        raise TypeError(f"{orders.__name__} has no column for {', '.join(unsorted)}")
    return sorts
