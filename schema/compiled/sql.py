"""Render a Plan into one PostgreSQL statement whose single value is the ``data`` JSON.

Objects become ``json_build_object``, connections ``json_agg`` over a keyset-ordered,
limited subquery, references correlated subqueries on the primary key. Every value is made
in SQL exactly as the resolvers make it in Python (ids, timestamps); file URLs and cursors,
which need Python's own encodings, are left as markers for schema.compiled.markers.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from itertools import count
from typing import Any

from app.db.paging import SortKey
from schema.compiled.mapping import Column, Value, column_name
from schema.compiled.plan import (
    ColumnField,
    ConnectionField,
    CountField,
    CursorPart,
    EdgesPart,
    Field,
    NodePart,
    PageInfoPart,
    Plan,
    RootObjectField,
    Selection,
    Shape,
    ToOneField,
    TotalCountPart,
    Typename,
)


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def global_id(type_name: str, alias: str) -> str:
    # PostgreSQL's base64 breaks lines every 76 characters; Python's b64encode never does.
    return (
        f"translate(encode(convert_to({literal(type_name + ':')} || {alias}.id::text, 'UTF8'), "
        f"'base64'), E'\\n', '')"
    )


def isoformat(expression: str) -> str:
    """datetime.isoformat() of a UTC timestamp: microseconds only when there are some."""
    utc = f"({expression} AT TIME ZONE 'UTC')"
    return (
        f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        f"CASE WHEN date_part('microseconds', {utc})::bigint % 1000000 = 0 THEN '' "
        f"ELSE to_char({utc}, '.US') END || '+00:00'"
    )


def hex_of(text_expression: str) -> str:
    return f"encode(convert_to({text_expression}, 'UTF8'), 'hex')"


class Renderer:
    def __init__(self, plan: Plan, shape: Shape, url_marker: str, cursor_marker: str) -> None:
        self.plan, self.shape = plan, shape
        self.url_marker, self.cursor_marker = url_marker, cursor_marker
        self._aliases = count()
        #: The parameter keys the statement refers to, in the order of $1, $2...
        self.used: list[tuple[Any, ...]] = []

    def param(self, key: tuple[Any, ...]) -> str:
        """A parameter's placeholder. Numbered by first use: PostgreSQL refuses a statement
        whose parameters skip a number (a connection selecting only totalCount uses no limit)."""
        if key not in self.used:
            self.used.append(key)
        return f"${self.used.index(key) + 1}"

    def alias(self) -> str:
        return f"t{next(self._aliases)}"

    def statement(self) -> str:
        pairs = [self.root_field(f) for f in self.plan.fields]
        return f"SELECT json_build_object({', '.join(pairs)})::text"

    def root_field(self, field: Field) -> str:
        if isinstance(field, RootObjectField):
            return pair(field.key, self.by_id(field.selection, self.param((field.slot, "id"))))
        return self.field(field, "", "Query")

    def by_id(self, selection: Selection, key: str) -> str:
        """The object whose id is ``key``, or null."""
        alias = self.alias()
        return (
            f"(SELECT {self.object(selection, alias)} FROM {quote(selection.type.table)} "
            f"{alias} WHERE {alias}.id = {key})"
        )

    def object(self, selection: Selection, alias: str) -> str:
        pairs = [self.field(f, alias, selection.type.name) for f in selection.fields]
        return f"json_build_object({', '.join(pairs)})"

    def field(self, field: Field, parent_alias: str, type_name: str) -> str:
        if isinstance(field, Typename):
            return pair(field.key, literal(field.name))
        if isinstance(field, ColumnField):
            return pair(field.key, self.column(field.column, parent_alias, type_name))
        if isinstance(field, CountField):
            alias = self.alias()
            value = (
                f"(SELECT count(*) FROM {quote(field.count.table)} {alias} "
                f"WHERE {alias}.{field.count.parent} = {parent_alias}.id)"
            )
            return pair(field.key, value)
        if isinstance(field, ToOneField):
            return pair(field.key, self.by_id(field.selection, f"{parent_alias}.{field.column}"))
        if isinstance(field, ConnectionField):
            return pair(field.key, ConnectionRenderer(self, field, parent_alias).render())
        raise TypeError(f"not a field of an object: {field!r}")

    def column(self, column: Column, alias: str, type_name: str) -> str:
        if column.value is Value.PLAIN:
            return f"{alias}.{column.name}"
        if column.value is Value.DATETIME:
            return isoformat(f"{alias}.{column.name}")
        if column.value is Value.GLOBAL_ID:
            return global_id(type_name, alias)
        return (
            f"{literal(self.url_marker)} || {alias}.entity || ':' || {alias}.id::text || ':' || "
            f"{hex_of(f'{alias}.filename')}"
        )


class ConnectionRenderer:
    """One connection field: the forward window (``first``, ``after``) of a sort."""

    def __init__(self, renderer: Renderer, field: ConnectionField, parent_alias: str) -> None:
        self.r, self.field, self.parent_alias = renderer, field, parent_alias
        shaped = renderer.shape[field.slot]
        assert shaped is not None
        sort_name, self.after = shaped
        self.sort = next(s for s in field.listing.sorts.values() if s.name == sort_name)
        self.table = quote(field.target.table)

    @property
    def limit(self) -> str:
        """The page size's placeholder, numbered only once a part really uses it: a
        connection selecting only ``totalCount`` has no page, and PostgreSQL refuses a
        statement that is passed a parameter it never uses."""
        return self.r.param((self.field.slot, "limit"))

    def render(self) -> str:
        parts = [self.part(p) for p in self.field.parts]
        return f"json_build_object({', '.join(parts)})"

    def part(self, part: Typename | EdgesPart | NodePart | TotalCountPart | PageInfoPart) -> str:
        if isinstance(part, Typename):
            return pair(part.key, literal(part.name))
        if isinstance(part, TotalCountPart):  # the whole list, cursor or not (as the resolver)
            alias = self.r.alias()
            return pair(
                part.key, f"(SELECT count(*) FROM {self.table} {alias}{self.children(alias)})"
            )
        if isinstance(part, PageInfoPart):
            return pair(part.key, self.page_info(part))
        outer = self.r.alias()
        if isinstance(part, NodePart):
            element = self.r.object(part.selection, outer)
        else:
            element = self.edge(part, outer)
        return pair(
            part.key,
            f"(SELECT coalesce(json_agg({element} ORDER BY {order_by(self.sort, outer)}), "
            f"'[]'::json) FROM ({self.page()}) {outer})",
        )

    def children(self, alias: str, *conditions: str) -> str:
        """WHERE: the parent's rows only (for a nested connection), and ``conditions``."""
        parent = self.field.listing.parent
        found = [f"{alias}.{parent} = {self.parent_alias}.id"] if parent else []
        found += conditions
        return f" WHERE {' AND '.join(found)}" if found else ""

    def page(self, limit: str | None = None) -> str:
        inner = self.r.alias()
        bounds = [self.beyond_cursor(inner)] if self.after else []
        return (
            f"SELECT * FROM {self.table} {inner}{self.children(inner, *bounds)} "
            f"ORDER BY {order_by(self.sort, inner)} LIMIT {limit or self.limit}"
        )

    def beyond_cursor(self, alias: str) -> str:
        """Rows strictly after the ``after`` cursor's key: SortKey.beyond, in SQL."""
        greater = ">" if not self.sort.descending else "<"
        clauses = []
        for i, column in enumerate(self.sort.columns):
            value = self.r.param((self.field.slot, "after", i))
            equal = [
                f"{alias}.{column_name(c)} = {self.r.param((self.field.slot, 'after', j))}"
                for j, c in enumerate(self.sort.columns[:i])
            ]
            clauses.append(
                "("
                + " AND ".join([*equal, f"{alias}.{column_name(column)} {greater} {value}"])
                + ")"
            )
        return "(" + " OR ".join(clauses) + ")"

    def edge(self, part: EdgesPart, alias: str) -> str:
        pairs = []
        for f in part.fields:
            if isinstance(f, Typename):
                pairs.append(pair(f.key, literal(f.name)))
            elif isinstance(f, CursorPart):
                pairs.append(pair(f.key, self.cursor(alias)))
            else:
                pairs.append(pair(f.key, self.r.object(f.selection, alias)))
        return f"json_build_object({', '.join(pairs)})"

    def cursor(self, alias: str) -> str:
        values = ", ".join(json_value(c, alias) for c in self.sort.columns)
        return (
            f"{literal(self.r.cursor_marker + self.sort.name + ':')} || "
            f"{hex_of(f'json_build_array({values})::text')}"
        )

    def page_info(self, part: PageInfoPart) -> str:
        pairs = []
        for key, name in part.fields:
            if name == "__typename":
                value = literal("PageInfo")
            elif name == "hasNextPage":
                alias = self.r.alias()
                probe = self.page(f"{self.limit} + 1")  # one row more than the page
                value = f"(SELECT count(*) > {self.limit} FROM ({probe}) {alias})"
            elif name == "hasPreviousPage":
                value = self.has_previous()
            else:  # startCursor / endCursor
                alias = self.r.alias()
                order = order_by(self.sort, alias, reverse=name == "endCursor")
                value = (
                    f"(SELECT {self.cursor(alias)} FROM ({self.page()}) {alias} "
                    f"ORDER BY {order} LIMIT 1)"
                )
            pairs.append(pair(key, value))
        return f"json_build_object({', '.join(pairs)})"

    def has_previous(self) -> str:
        """Forward from the start there is nothing before; after a cursor, whether any row is
        at or before it (as paging.exists_behind)."""
        if not self.after:
            return "false"
        alias = self.r.alias()
        where = self.children(alias, f"NOT {self.beyond_cursor(alias)}")
        return f"EXISTS (SELECT 1 FROM {self.table} {alias}{where})"


def json_value(sort_column: Any, alias: str) -> str:
    """A sort column's value as the cursor's JSON holds it (paging._to_json)."""
    expression = f"{alias}.{column_name(sort_column)}"
    python_type = sort_column.type.python_type
    if python_type is datetime:
        return isoformat(expression)
    if python_type is uuid.UUID:
        return f"replace({expression}::text, '-', '')"
    return expression


def order_by(sort: SortKey, alias: str, *, reverse: bool = False) -> str:
    direction = "DESC" if sort.descending != reverse else "ASC"
    return ", ".join(f"{alias}.{column_name(c)} {direction}" for c in sort.columns)


def pair(key: str, value: str) -> str:
    return f"{literal(key)}, {value}"


def quote(table: str) -> str:
    return '"' + table.replace('"', '""') + '"'
