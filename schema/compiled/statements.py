"""Render a Plan, for one shape, into one PostgreSQL statement whose single value is the
``data`` JSON - built with SQLAlchemy Core from the same pieces the resolvers run.

A connection's rows come from its declared statement (schema.declarations: the services'
listing with its filters), bounded, ordered and limited by app.db.paging's own functions,
which take bound parameters as readily as Python values. Objects become
``json_build_object``, connections ``json_agg`` over that window, references correlated
subqueries on the primary key. Values are made by the SQL twins of the resolvers' encoders
(app.db.sql_json, schema.ids); file URLs and cursors, which need Python's own encodings, are
left as markers for schema.compiled.markers.

The statement is compiled to text once per plan and shape, with the order of its parameters;
a request only binds values (Statement.arguments).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Select, Text, Uuid, bindparam, cast, false, func, select
from sqlalchemy import inspect as inspect_entity
from sqlalchemy.dialects.postgresql import JSON, aggregate_order_by
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from app.db.paging import (
    Flag,
    SortKey,
    behind_statement,
    count_statement,
    ordered_window,
    page_flags,
    probe_limit,
)
from app.db.sql_json import DIALECT, as_text, constant, hex_sql, isoformat_sql
from app.services.search import ListFilter
from schema.compiled.plan import (
    ColumnField,
    Conditional,
    ConnectionField,
    ConstantField,
    CountField,
    CursorPart,
    EdgesPart,
    Field,
    ListingShape,
    NodeField,
    NodePart,
    PageInfoPart,
    Plan,
    RootObjectField,
    Selection,
    Shape,
    ToManyField,
    ToOneField,
    TotalCountPart,
    Typename,
    ViewerField,
)
from schema.declarations import Column, Value
from schema.ids import global_id_sql

#: The parameter carrying the viewer's user id (``me``), set per request by CompiledReads.
VIEWER = ("viewer",)
#: The order of ListFilter's fields in a ListingShape and in the parameters.
FILTER_FIELDS = ("search", "created_since", "created_before")


@dataclass(frozen=True, slots=True)
class Argument:
    """What one $n of the statement carries: a request's parameter (by key) or a constant
    SQLAlchemy bound while building it, through the type's own bind processing."""

    key: tuple[Any, ...] | None
    constant: object
    process: Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    arguments: tuple[Argument, ...]

    def bind(self, params: dict[tuple[Any, ...], object]) -> list[object]:
        values = []
        for argument in self.arguments:
            value = argument.constant if argument.key is None else params[argument.key]
            values.append(argument.process(value) if argument.process else value)
        return values


def json_object(pairs: Sequence[tuple[str, ColumnElement[Any]]]) -> ColumnElement[Any]:
    return func.json_build_object(*(part for k, v in pairs for part in (constant(k), v)))


class Renderer:
    def __init__(self, plan: Plan, shape: Shape, url_marker: str, cursor_marker: str) -> None:
        self.plan = plan
        self.slot_shapes, self.conditions = shape
        self.url_marker, self.cursor_marker = url_marker, cursor_marker
        self._params: dict[str, tuple[Any, ...]] = {}

    def param(self, key: tuple[Any, ...], type_: Any) -> BindParameter[Any]:
        name = "p" + "_".join(str(part) for part in key)
        self._params[name] = key
        return bindparam(name, type_=type_)

    def render(self) -> Statement:
        data = json_object(self.fields(self.plan.fields, None, "Query"))
        compiled = select(cast(data, Text)).compile(dialect=DIALECT)
        arguments = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            process = bind.type._cached_bind_processor(DIALECT)
            key = self._params.get(name)
            arguments.append(Argument(key, None if key else bind.effective_value, process))
        return Statement(str(compiled), tuple(arguments))

    # -- objects ------------------------------------------------------------------------

    def fields(
        self, fields: list[Field], row: Any, type_name: str
    ) -> list[tuple[str, ColumnElement[Any]]]:
        pairs = []
        for field in fields:
            if isinstance(field, Conditional):
                if not all(self.conditions[i] for i in field.conditions):
                    continue
                field = field.field
            pairs.append(self.field(field, row, type_name))
        return pairs

    def object(self, selection: Selection, row: Any) -> ColumnElement[Any]:
        return json_object(self.fields(selection.fields, row, selection.type.name))

    def by_id(self, selection: Selection, key: ColumnElement[Any]) -> ColumnElement[Any]:
        """The object whose id is ``key``, or null."""
        row = aliased(selection.type.model)
        found = select(self.object(selection, row)).where(row.id == key)  # type: ignore[attr-defined]
        return found.scalar_subquery()

    def field(self, field: Field, row: Any, type_name: str) -> tuple[str, ColumnElement[Any]]:
        if isinstance(field, Typename):
            return field.key, constant(field.name)
        if isinstance(field, ColumnField):
            return field.key, self.column(field.column, row, type_name)
        if isinstance(field, RootObjectField):
            return field.key, self.by_id(field.selection, self.param((field.slot, "id"), Uuid()))
        if isinstance(field, NodeField):
            return field.key, self.node(field)
        if isinstance(field, ViewerField):  # null for anonymous callers: no row has a null id
            return field.key, self.by_id(field.selection, self.param(VIEWER, Uuid()))
        if isinstance(field, ConstantField):
            return field.key, cast(constant(field.json), JSON)
        if isinstance(field, ToManyField):
            return field.key, self.to_many(field, row)
        if isinstance(field, CountField):
            counted = aliased(field.count.model)
            parent = getattr(counted, field.count.parent)
            total = select(func.count()).select_from(counted).where(parent == row.id)
            return field.key, total.scalar_subquery()
        if isinstance(field, ToOneField):
            return field.key, self.by_id(field.selection, getattr(row, field.column))
        if isinstance(field, ConnectionField):
            return field.key, ConnectionRenderer(self, field, row).render()
        raise TypeError(f"not a field of an object: {field!r}")

    def column(self, column: Column, row: Any, type_name: str) -> ColumnElement[Any]:
        value = getattr(row, column.name)
        if column.value is Value.PLAIN:
            return value  # type: ignore[no-any-return]
        if column.value is Value.DATETIME:
            return isoformat_sql(value)
        if column.value is Value.GLOBAL_ID:
            return global_id_sql(type_name, row.id)
        marker = constant(self.url_marker).concat(row.entity).concat(constant(":"))
        return marker.concat(as_text(row.id)).concat(constant(":")).concat(hex_sql(value))

    def to_many(self, field: ToManyField, row: Any) -> ColumnElement[Any]:
        """The linked rows through the association table, in the declared order."""
        relation = field.relation
        linked = aliased(field.selection.type.model)
        through = relation.through
        order = [getattr(linked, column) for column in relation.order]
        listed = func.json_agg(aggregate_order_by(self.object(field.selection, linked), *order))
        found = (
            select(func.coalesce(listed, cast(constant("[]"), JSON)))
            .select_from(through)
            .join(linked, through.c[relation.target_column] == linked.id)  # type: ignore[attr-defined]
            .where(through.c[relation.parent_column] == row.id)
        )
        return found.scalar_subquery()

    def node(self, field: NodeField) -> ColumnElement[Any]:
        """node: the object of the type its id names; nodes: an array of them."""
        types = self.slot_shapes[field.slot]
        if isinstance(types, str):
            selection = field.selections[types]
            assert selection is not None
            return self.by_id(selection, self.param((field.slot, "id"), Uuid()))
        assert isinstance(types, tuple) and not isinstance(types, ListingShape)
        found = []
        for index, type_name in enumerate(types):
            selection = field.selections[type_name]
            assert selection is not None
            found.append(self.by_id(selection, self.param((field.slot, "id", index), Uuid())))
        return func.json_build_array(*found)


class ConnectionRenderer:
    """One connection field: the window its shape describes, over its declared rows."""

    def __init__(self, renderer: Renderer, field: ConnectionField, parent: Any) -> None:
        self.r, self.field, self.parent = renderer, field, parent
        shape = renderer.slot_shapes[field.slot]
        assert isinstance(shape, ListingShape)
        self.shape = shape
        self.sort: SortKey = next(s for s in field.listing.sorts.values() if s.name == shape.sort)
        self.model = field.target.model
        key_types = [c.type for c in self.sort.columns]
        self.after = self._key("after", key_types) if shape.after else None
        self.before = self._key("before", key_types) if shape.before else None

    def _key(self, role: str, types: list[Any]) -> list[BindParameter[Any]]:
        return [self.r.param((self.field.slot, role, i), t) for i, t in enumerate(types)]

    @property
    def limit(self) -> BindParameter[Any]:
        """The page size, bound only where a part uses it: a connection selecting only
        ``totalCount`` has no page, and PostgreSQL refuses a parameter it never uses."""
        return self.r.param((self.field.slot, "limit"), Integer())

    def rows(self) -> Select[Any]:
        """The connection's rows before any window: the declared listing with its filters,
        or the children of the parent row."""
        root = self.field.root
        if root is not None:
            given = dict(zip(FILTER_FIELDS, self.shape.filters, strict=True))
            criteria = ListFilter(
                **{
                    name: self.r.param((self.field.slot, "filter", name), None)
                    for name, present in given.items()
                    if present
                }
            )
            return root.statement(criteria)
        parent_column = getattr(self.model, self.field.listing.parent or "")
        parent_from = inspect_entity(self.parent).selectable
        return select(self.model).where(parent_column == self.parent.id).correlate(parent_from)

    def render(self) -> ColumnElement[Any]:
        pairs = [self.part(p) for p in self.field.parts]
        return json_object(pairs)

    def page(self, limit: Any) -> Any:
        """The window's rows, nearest first in the direction of paging, as a subquery."""
        window = ordered_window(
            self.rows(),
            self.sort,
            after=self.after,
            before=self.before,
            forward=self.shape.forward,
        )
        return window.limit(limit).subquery()

    def part(
        self, part: Typename | EdgesPart | NodePart | TotalCountPart | PageInfoPart
    ) -> tuple[str, ColumnElement[Any]]:
        if isinstance(part, Typename):
            return part.key, constant(part.name)
        if isinstance(part, TotalCountPart):  # the whole list, cursor or not (as the resolver)
            return part.key, count_statement(self.rows()).scalar_subquery()
        if isinstance(part, PageInfoPart):
            return part.key, self.page_info(part)
        page = self.page(self.limit)
        row = aliased(self.model, page)
        if isinstance(part, NodePart):
            element = self.r.object(part.selection, row)
        else:
            element = self.edge(part, row)
        # Listed in the sort's own order, whichever way the window was taken.
        listed = func.json_agg(aggregate_order_by(element, *self.sort.order_by(on=row)))
        empty = cast(constant("[]"), JSON)
        return part.key, select(func.coalesce(listed, empty)).select_from(page).scalar_subquery()

    def edge(self, part: EdgesPart, row: Any) -> ColumnElement[Any]:
        pairs: list[tuple[str, ColumnElement[Any]]] = []
        for f in part.fields:
            if isinstance(f, Typename):
                pairs.append((f.key, constant(f.name)))
            elif isinstance(f, CursorPart):
                pairs.append((f.key, self.cursor(row)))
            else:
                pairs.append((f.key, self.r.object(f.selection, row)))
        return json_object(pairs)

    def cursor(self, row: Any) -> ColumnElement[str]:
        """A marker carrying the sort's name and the row's key as the cursor's JSON holds it
        (SortKey.json_values); markers.Cursors finishes it with paging.encode_cursor."""
        values = as_text(func.json_build_array(*self.sort.json_values(row)))
        return constant(f"{self.r.cursor_marker}{self.sort.name}:").concat(hex_sql(values))

    def page_info(self, part: PageInfoPart) -> ColumnElement[Any]:
        cursor_given = (self.after if self.shape.forward else self.before) is not None
        has_next, has_previous = page_flags(forward=self.shape.forward, cursor_given=cursor_given)
        pairs: list[tuple[str, ColumnElement[Any]]] = []
        for key, name in part.fields:
            if name == "__typename":
                pairs.append((key, constant("PageInfo")))
            elif name == "hasNextPage":
                pairs.append((key, self.flag(has_next)))
            elif name == "hasPreviousPage":
                pairs.append((key, self.flag(has_previous)))
            else:  # startCursor / endCursor: the page's first or last row, in list order
                page = self.page(self.limit)
                row = aliased(self.model, page)
                order = self.sort.order_by(on=row, reverse=name == "endCursor")
                first = select(self.cursor(row)).select_from(page).order_by(*order).limit(1)
                pairs.append((key, first.scalar_subquery()))
        return json_object(pairs)

    def flag(self, flag: Flag) -> ColumnElement[bool]:
        if flag is Flag.FALSE:
            return false()
        if flag is Flag.MORE:  # the probe row past the page came back
            probe = self.page(probe_limit(self.limit))
            return select(func.count() > self.limit).select_from(probe).scalar_subquery()
        # BEHIND: any row at or behind the cursor the window started from.
        forward = self.shape.forward
        cursor = self.after if forward else self.before
        assert cursor is not None
        return behind_statement(self.rows(), self.sort, cursor, forward=forward).exists()
