"""Render a Plan into one PostgreSQL statement whose single value is the ``data`` JSON.

Objects become ``json_build_object``, connections ``json_agg`` over a keyset-ordered,
limited subquery, references correlated subqueries on the primary key. Every value is made
in SQL exactly as the resolvers make it in Python (ids, timestamps); file URLs, which need a
signature, are left as markers for schema.compiled.urls to finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count

from app.db.paging import SortKey
from schema.compiled.mapping import Column, Value, column_name
from schema.compiled.plan import (
    ColumnField,
    ConnectionField,
    CountField,
    EdgesPart,
    Field,
    NodePart,
    Plan,
    RootObjectField,
    Selection,
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


class Renderer:
    def __init__(self, plan: Plan, sorts: Sequence[str | None], url_marker: str) -> None:
        self.plan, self.sorts, self.url_marker = plan, sorts, url_marker
        self._aliases = count()
        #: The slots the statement refers to, in the order of its parameters $1, $2...
        self.used_slots: list[int] = []

    def param(self, slot: int) -> str:
        """A slot's placeholder. Numbered by first use: PostgreSQL refuses a statement whose
        parameters skip a number (a connection selecting only totalCount uses no limit)."""
        if slot not in self.used_slots:
            self.used_slots.append(slot)
        return f"${self.used_slots.index(slot) + 1}"

    def alias(self) -> str:
        return f"t{next(self._aliases)}"

    def statement(self) -> str:
        pairs = [self.root_field(f) for f in self.plan.fields]
        return f"SELECT json_build_object({', '.join(pairs)})::text"

    def root_field(self, field: Field) -> str:
        if isinstance(field, RootObjectField):
            return pair(field.key, self.by_id(field.selection, self.param(field.slot)))
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
            return pair(field.key, self.connection(field, parent_alias))
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
            f"encode(convert_to({alias}.filename, 'UTF8'), 'hex')"
        )

    def connection(self, field: ConnectionField, parent_alias: str) -> str:
        sort_name = self.sorts[field.slot]
        sort = next(s for s in field.listing.sorts.values() if s.name == sort_name)
        table = quote(field.target.table)
        parts: list[str] = []
        for part in field.parts:
            if isinstance(part, Typename):
                parts.append(pair(part.key, literal(part.name)))
                continue
            if isinstance(part, TotalCountPart):
                alias = self.alias()
                where = self._children(field, alias, parent_alias)
                parts.append(pair(part.key, f"(SELECT count(*) FROM {table} {alias}{where})"))
                continue
            inner, outer = self.alias(), self.alias()
            page = (
                f"SELECT * FROM {table} {inner}{self._children(field, inner, parent_alias)} "
                f"ORDER BY {order_by(sort, inner)} LIMIT {self.param(field.slot)}"
            )
            if isinstance(part, NodePart):
                element = self.object(part.selection, outer)
            else:
                element = self.edge(part, outer)
            parts.append(
                pair(
                    part.key,
                    f"(SELECT coalesce(json_agg({element} ORDER BY {order_by(sort, outer)}), "
                    f"'[]'::json) FROM ({page}) {outer})",
                )
            )
        return f"json_build_object({', '.join(parts)})"

    def edge(self, part: EdgesPart, alias: str) -> str:
        pairs = [
            pair(f.key, literal(f.name))
            if isinstance(f, Typename)
            else pair(f.key, self.object(f.selection, alias))
            for f in part.fields
        ]
        return f"json_build_object({', '.join(pairs)})"

    @staticmethod
    def _children(field: ConnectionField, alias: str, parent_alias: str) -> str:
        if field.listing.parent is None:
            return ""
        return f" WHERE {alias}.{field.listing.parent} = {parent_alias}.id"


def order_by(sort: SortKey, alias: str) -> str:
    direction = "DESC" if sort.descending else "ASC"
    return ", ".join(f"{alias}.{column_name(c)} {direction}" for c in sort.columns)


def pair(key: str, value: str) -> str:
    return f"{literal(key)}, {value}"


def quote(table: str) -> str:
    return '"' + table.replace('"', '""') + '"'
