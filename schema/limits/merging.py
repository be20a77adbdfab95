"""The spec's "field selection merging" rule, in time linear in the merged selections.

graphql-core compares every pair of fields that share a response name, and every pair of
fragments: ``{ me { id } ... }`` repeated 1,200 times is 720,000 comparisons (two seconds),
and a page of 120 fragments on one type took 280 ms. This is the grouping algorithm of
Adameit's "Finding conflicting fields" (used by Sangria and graphql-java): fields are grouped
by response name, each group is compared with its first member (every relation compared is an
equivalence), and the groups' sub-selections are merged and checked once, as one set:

- same response shape: every field of a group has the same list/non-null wrapping and the
  same leaf type, and so, recursively, do the merged sub-selections;
- same field for common parents: fields whose parents could be the same object (the same
  object type, or an interface or union) select the same field with the same arguments, and
  so, recursively, do their merged sub-selections. Fields of two different object types
  never apply together, so they may differ.

Each collected field costs one unit of a Budget; a crafted document that would need more than
the budget is refused instead of checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    BooleanValueNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    get_named_type,
    is_interface_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.utilities import type_from_ast

from schema.limits.budget import Budget

MAX_CONFLICTS = 10


@dataclass(frozen=True, slots=True)
class Member:
    """One field in a merged selection set, with the type it was selected on."""

    parent: GraphQLNamedType | None
    node: FieldNode
    definition: GraphQLField | None


Groups = dict[str, list[Member]]


class Conflict(Exception):
    def __init__(self, path: tuple[str, ...], reason: str, nodes: list[FieldNode]) -> None:
        super().__init__(reason)
        self.path, self.reason, self.nodes = path, reason, nodes

    def error(self) -> GraphQLError:
        first, *rest = self.path
        inner = "".join(f"subfields '{name}' conflict because " for name in rest)
        return GraphQLError(
            f"Fields '{first}' conflict because {inner}{self.reason}. Use different aliases "
            "on the fields to fetch both if this was intentional.",
            self.nodes,
        )


def _value_key(node: ValueNode) -> Any:
    """A comparable rendering of an argument value (variables by name)."""
    if isinstance(node, VariableNode):
        return ("$", node.name.value)
    if isinstance(node, ObjectValueNode):
        fields = sorted(node.fields, key=lambda field: field.name.value)
        return ("{", tuple((f.name.value, _value_key(f.value)) for f in fields))
    if isinstance(node, ListValueNode):
        return ("[", tuple(_value_key(value) for value in node.values))
    if isinstance(node, StringValueNode):
        return ("s", node.value)
    if isinstance(node, NullValueNode):
        return ("null",)
    if isinstance(node, IntValueNode | FloatValueNode | BooleanValueNode | EnumValueNode):
        return (type(node).__name__, node.value)
    return ("?", json.dumps(str(node)))


def _arguments_key(node: FieldNode) -> Any:
    return frozenset((a.name.value, _value_key(a.value)) for a in node.arguments or ())


def _types_conflict(one: GraphQLOutputType, other: GraphQLOutputType) -> bool:
    """Lists and non-nulls must match; leaves must be the same type; objects are compared
    through their sub-selections."""
    while True:
        if one is other:
            return False
        if is_list_type(one) or is_list_type(other):
            if not (is_list_type(one) and is_list_type(other)):
                return True
        elif is_non_null_type(one) or is_non_null_type(other):
            if not (is_non_null_type(one) and is_non_null_type(other)):
                return True
        else:
            return is_leaf_type(one) or is_leaf_type(other)
        one, other = one.of_type, other.of_type


class MergeChecker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        budget: Budget,
    ) -> None:
        self.schema, self.fragments, self.budget = schema, fragments, budget
        self._fragment_types: dict[str, GraphQLNamedType | None] = {}
        self.conflicts: list[Conflict] = []

    def check(self, parent: GraphQLNamedType | None, selection_set: SelectionSetNode) -> None:
        groups = self.collect([(parent, selection_set)])
        self._guarded(self._same_shape, groups, ())
        self._guarded(self._same_for_common_parents, groups, ())

    def _guarded(
        self,
        check: Callable[[Groups, tuple[str, ...]], None],
        groups: Groups,
        path: tuple[str, ...],
    ) -> None:
        try:
            check(groups, path)
        except Conflict as conflict:
            if len(self.conflicts) < MAX_CONFLICTS:
                self.conflicts.append(conflict)

    # Collecting: one merged selection set from several, fragments expanded once each.

    def collect(self, sets: list[tuple[GraphQLNamedType | None, SelectionSetNode]]) -> Groups:
        groups: Groups = {}
        seen: set[int] = set()
        expanded: set[str] = set()
        for parent, selection_set in sets:
            self._collect(parent, selection_set, groups, seen, expanded)
        return groups

    def _collect(
        self,
        parent: GraphQLNamedType | None,
        selection_set: SelectionSetNode,
        groups: Groups,
        seen: set[int],
        expanded: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if id(selection) in seen:
                    continue
                seen.add(id(selection))
                self.budget.spend(1)
                name = selection.name.value
                response = selection.alias.value if selection.alias else name
                definition = (
                    parent.fields.get(name)
                    if is_object_type(parent) or is_interface_type(parent)
                    else None
                )
                groups.setdefault(response, []).append(Member(parent, selection, definition))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = type_from_ast(self.schema, condition) if condition else parent
                self._collect(target, selection.selection_set, groups, seen, expanded)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in expanded:
                    continue
                expanded.add(name)
                self._collect(
                    self._fragment_type(fragment), fragment.selection_set, groups, seen, expanded
                )

    def _fragment_type(self, fragment: FragmentDefinitionNode) -> GraphQLNamedType | None:
        name = fragment.name.value
        if name not in self._fragment_types:
            found = type_from_ast(self.schema, fragment.type_condition)
            self._fragment_types[name] = found
        return self._fragment_types[name]

    def _merged(self, members: list[Member]) -> Groups:
        """The sub-selections of ``members``, merged into one set."""
        return self.collect(
            [
                (get_named_type(m.definition.type) if m.definition else None, m.node.selection_set)
                for m in members
                if m.node.selection_set is not None
            ]
        )

    # The two checks.

    def _same_shape(self, groups: Groups, path: tuple[str, ...]) -> None:
        for response, members in groups.items():
            typed = [m for m in members if m.definition is not None]
            for member in typed[1:]:
                first = typed[0]
                if _types_conflict(first.definition.type, member.definition.type):  # type: ignore[union-attr]
                    raise Conflict(
                        (*path, response),
                        f"they return conflicting types '{first.definition.type}' and "  # type: ignore[union-attr]
                        f"'{member.definition.type}'",  # type: ignore[union-attr]
                        [first.node, member.node],
                    )
            merged = self._merged(members)
            if merged:
                self._same_shape(merged, (*path, response))

    def _same_for_common_parents(self, groups: Groups, path: tuple[str, ...]) -> None:
        for response, members in groups.items():
            for partition in _partitions(members):
                first = partition[0]
                arguments = _arguments_key(first.node) if len(partition) > 1 else None
                for member in partition[1:]:
                    if member.node.name.value != first.node.name.value:
                        raise Conflict(
                            (*path, response),
                            f"'{first.node.name.value}' and '{member.node.name.value}' are "
                            "different fields",
                            [first.node, member.node],
                        )
                    if _arguments_key(member.node) != arguments:
                        raise Conflict(
                            (*path, response),
                            "they have differing arguments",
                            [first.node, member.node],
                        )
                merged = self._merged(partition)
                if merged:
                    self._same_for_common_parents(merged, (*path, response))


def _partitions(members: list[Member]) -> Iterator[list[Member]]:
    """Groups of fields that may apply together: each object type's fields with every field
    selected on an interface or union (or on an unknown type)."""
    objects: dict[str, list[Member]] = {}
    shared: list[Member] = []
    for member in members:
        if is_object_type(member.parent):
            objects.setdefault(member.parent.name, []).append(member)
        else:
            shared.append(member)
    if not objects:
        yield shared
        return
    for own in objects.values():
        yield own + shared
