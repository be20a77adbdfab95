"""The filter inputs of the listings, and their one translation to the services' ListFilter.

The resolvers and the compiled read path both turn a client's filter into a ListFilter here,
so a filter the resolvers refuse is one the compiled path never answers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.utils.str_converters import to_camel_case

from app.services.search import ListFilter
from schema.errors import BadUserInput

SEARCH_MAX = 200


@strawberry.input
class ListFilterInput:
    """What contact and album filters share; each list has its own input type to grow."""

    search: str | None = None
    created_since: datetime | None = strawberry.field(default=None, description="Inclusive.")
    created_before: datetime | None = strawberry.field(default=None, description="Exclusive.")

    def to_filter(self) -> ListFilter:
        if self.search is not None and len(self.search) > SEARCH_MAX:
            raise BadUserInput(f"search must be at most {SEARCH_MAX} characters")
        if self.search is not None and "\x00" in self.search:
            raise BadUserInput("search must not contain NUL characters")
        return ListFilter(self.search, _utc(self.created_since), _utc(self.created_before))


def _utc(moment: datetime | None) -> datetime | None:
    """In UTC (a time without zone is read as UTC); refused when UTC cannot hold it."""
    if moment is None:
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise BadUserInput(f"{moment.isoformat()} is out of range") from None


@strawberry.input(description="Narrow the contact list. All given conditions must hold.")
class ContactFilterInput(ListFilterInput):
    search: str | None = strawberry.field(
        default=None,
        description="Case-insensitive substring of the name or email; % and _ match literally.",
    )


@strawberry.input(description="Narrow the album list. All given conditions must hold.")
class AlbumFilterInput(ListFilterInput):
    search: str | None = strawberry.field(
        default=None,
        description="Case-insensitive substring of the title; % and _ match literally.",
    )


def to_list_filter(filter: ListFilterInput | None) -> ListFilter:
    """The service-level filter for an optional filter input."""
    return filter.to_filter() if filter is not None else ListFilter()


@strawberry.input(description="Narrow the user list. All given conditions must hold.")
class UserFilterInput(ListFilterInput):
    search: str | None = strawberry.field(
        default=None,
        description="Case-insensitive substring of the username, email or display name.",
    )


def filter_from_arguments(
    input_type: type[ListFilterInput], raw: dict[str, object] | None
) -> ListFilter:
    """The ListFilter of a filter argument as graphql-core coerced it (GraphQL names as keys),
    by way of the input type's own checks."""
    if raw is None:
        return ListFilter()
    fields = input_type.__strawberry_definition__.fields  # type: ignore[attr-defined]
    values: dict[str, Any] = {f.python_name: raw.get(to_camel_case(f.python_name)) for f in fields}
    return input_type(**values).to_filter()
