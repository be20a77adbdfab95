"""A compiled query: the tree of what to select, before any request's arguments are known.

Fields are kept in selection order (the response's key order). Arguments live in *slots*,
numbered in the order the tree is walked and bound per request; @include/@skip conditions
with variables are decided per request too. What a request's arguments decide of the SQL's
text (an ordering, a direction, which filters, the types of node ids) is its *shape*: one
statement is rendered per plan and shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from graphql import DocumentNode, FieldNode, GraphQLField, OperationDefinitionNode

if TYPE_CHECKING:
    from schema.compiled.statements import Statement

from schema.declarations import Column, Count, Listing, RootListing, TableType, ToMany


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
class ToManyField:
    key: str
    relation: ToMany
    selection: Selection


@dataclass(frozen=True)
class ViewerField:
    """The viewer's own object (``me``): bound per request from the viewer, not arguments."""

    key: str
    selection: Selection


@dataclass(frozen=True)
class ConstantField:
    """A value fixed when the plan is made (``scopes``), as JSON text."""

    key: str
    json: str


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
    listing: Listing[Any]
    target: TableType
    parts: list[Typename | EdgesPart | NodePart | TotalCountPart | PageInfoPart]
    root: RootListing[Any] | None = None  # a root listing (its statement and filter)


@dataclass(frozen=True)
class NodeField:
    """Query.node (one id) or Query.nodes (a list): the selection for each type whose id
    may come; a type missing here (or with None) leaves the request to the resolvers."""

    key: str
    slot: int
    selections: dict[str, Selection | None]
    many: bool


@dataclass(frozen=True)
class Conditional:
    """A field kept only when every one of its @include/@skip conditions says so."""

    conditions: tuple[int, ...]
    field: Field


Field = (
    Typename
    | ColumnField
    | CountField
    | ToOneField
    | ConnectionField
    | RootObjectField
    | NodeField
    | Conditional
    | ToManyField
    | ViewerField
    | ConstantField
)


class ListingShape(NamedTuple):
    """What of a connection's arguments changes its statement's text."""

    sort: str
    forward: bool
    after: bool
    before: bool
    filters: tuple[bool, ...]  # which ListFilter fields are given


#: Per slot: None (an object by id), a type name (node), type names (nodes) or a
#: ListingShape; then the @include/@skip conditions' values.
SlotShape: TypeAlias = str | tuple[str, ...] | ListingShape | None
Shape: TypeAlias = tuple[tuple[SlotShape, ...], tuple[bool, ...]]


class Binding(NamedTuple):
    """A request's arguments: the shape, the parameters by (slot, role[, index]), and the
    scopes the viewer must hold (the plan's, and those of the types node ids name)."""

    shape: Shape
    params: dict[tuple[Any, ...], object]
    scopes: frozenset[str]


@dataclass(frozen=True)
class Slot:
    """Where a field's arguments come from, to be coerced per request."""

    definition: GraphQLField
    node: FieldNode
    listing: Listing[Any] | None = None  # a connection's window and order
    root: RootListing[Any] | None = None  # a root connection's filter
    type_name: str | None = None  # an object fetched by global id
    node_types: dict[str, Selection | None] | None = None  # node / nodes
    many: bool = False


@dataclass(frozen=True)
class Condition:
    """An @include or @skip on a selection, decided per request by its variable."""

    variable: str
    include: bool


@dataclass
class Plan:
    document: DocumentNode
    operation: OperationDefinitionNode
    fields: list[Field]
    slots: list[Slot]
    conditions: list[Condition]
    scopes: frozenset[str]
    has_urls: bool
    has_cursors: bool
    has_connections: bool
    uses_viewer: bool = False
    #: Statement text per shape (orderBy and after can be variables), each with the parameter
    #: keys its $1, $2... stand for.
    statements: dict[Shape, Statement] = field(default_factory=dict)
    #: The binding of an operation without variables, made on first use (see reads.bind).
    static_binding: Binding | None = None
    static_bound: bool = False

    @property
    def operation_name(self) -> str | None:
        return self.operation.name.value if self.operation.name else None
