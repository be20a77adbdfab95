"""A compiled query: the tree of what to select, before any request's arguments are known.

Fields are kept in selection order (the response's key order). Arguments live in *slots*,
numbered in the order the tree is walked and bound per request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

from graphql import DocumentNode, FieldNode, GraphQLField, OperationDefinitionNode

from schema.compiled.mapping import Column, Count, Listing, TableType


@dataclass(frozen=True)
class Typename:
    key: str
    name: str


@dataclass(frozen=True)
class ColumnField:
    key: str
    column: Column


@dataclass(frozen=True)
class CountField:
    key: str
    count: Count


@dataclass(frozen=True)
class Selection:
    type: TableType
    fields: list[Field]


@dataclass(frozen=True)
class ToOneField:
    key: str
    column: str  # the parent's reference column
    selection: Selection


@dataclass(frozen=True)
class RootObjectField:
    key: str
    slot: int
    selection: Selection


@dataclass(frozen=True)
class CursorPart:
    key: str


@dataclass(frozen=True)
class EdgesPart:
    key: str
    typename: str
    fields: list[Typename | NodePart | CursorPart]


@dataclass(frozen=True)
class PageInfoPart:
    key: str
    #: (response key, PageInfo field or __typename) in selection order.
    fields: list[tuple[str, str]]


@dataclass(frozen=True)
class NodePart:
    key: str
    selection: Selection


@dataclass(frozen=True)
class TotalCountPart:
    key: str


@dataclass(frozen=True)
class ConnectionField:
    key: str
    slot: int
    listing: Listing
    target: TableType
    parts: list[Typename | EdgesPart | NodePart | TotalCountPart | PageInfoPart]


Field = Typename | ColumnField | CountField | ToOneField | ConnectionField | RootObjectField


#: What shapes the statement's text: per slot, None (by id) or (sort name, after a cursor?).
Shape: TypeAlias = tuple[tuple[str, bool] | None, ...]
#: A request's arguments: the shape, and the parameters by (slot, role[, index]).
Binding: TypeAlias = tuple[Shape, dict[tuple[Any, ...], object]]


@dataclass(frozen=True)
class Slot:
    """Where a field's arguments come from, to be coerced per request."""

    definition: GraphQLField
    node: FieldNode
    listing: Listing | None = None  # a connection's window and order
    type_name: str | None = None  # an object fetched by global id


@dataclass
class Plan:
    document: DocumentNode
    operation: OperationDefinitionNode
    fields: list[Field]
    slots: list[Slot]
    scopes: frozenset[str]
    has_urls: bool
    has_cursors: bool
    has_connections: bool
    #: Statement text per shape (orderBy and after can be variables), each with the parameter
    #: keys its $1, $2... stand for.
    statements: dict[Shape, tuple[str, list[tuple[Any, ...]]]] = field(default_factory=dict)
    #: The binding of an operation without variables, made on first use (see reads.bind).
    static_binding: Binding | None = None
    static_bound: bool = False
