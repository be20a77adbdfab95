"""What one document may cost, and the error that says it costs too much.

Every limit refuses with ``QUERY_TOO_COMPLEX`` and says which limit (``extensions.limit``),
so a client can tell "my document is wrong" (``GRAPHQL_VALIDATION_FAILED``) from "my document
is too big for this server".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError

from app.config import Settings
from schema.errors import ErrorCode

#: Units of field-merging work allowed per token of the document (see merging.py): generous
#: for real documents (a few units per field), and still a hard stop for crafted ones.
WORK_PER_TOKEN = 20


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int
    max_tokens: int
    max_depth: int
    max_aliases: int
    max_nodes: int
    max_work: int
    default_page_size: int
    max_page_size: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_bytes=settings.max_query_bytes,
            max_tokens=settings.max_query_tokens,
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_nodes=settings.max_query_nodes,
            max_work=WORK_PER_TOKEN * settings.max_query_tokens,
            default_page_size=settings.page_size_default,
            max_page_size=settings.page_size_max,
        )


def too_complex(message: str, limit: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(
        message,
        extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.value, "limit": limit, **extensions},
    )


class WorkExceeded(Exception):
    """The document needs more validation work than its budget allows."""


class Budget:
    """A countdown of work units, shared by the checks of one validation."""

    __slots__ = ("remaining",)

    def __init__(self, units: int) -> None:
        self.remaining = units

    def spend(self, units: int) -> None:
        self.remaining -= units
        if self.remaining < 0:
            raise WorkExceeded
