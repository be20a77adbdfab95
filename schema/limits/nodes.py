"""The most nodes an operation can return, from its page sizes, before anything is fetched.

Depth and token limits bound an operation's text, not its result: ``albums(first: 100) {
photos(first: 100) { ... } }`` is shallow and short yet asks for 10,000 photos. Page sizes
multiply down each path: a connection counts ``first`` (or ``last``, or the default page)
nodes, ``nodes(ids: [...])`` one per id, and a plain list of objects the bound its field
declares (``strawberry.field(metadata={MAX_ITEMS: ...})``). Needs the variables, so it runs
per request; the count of a fragment is linear in its multiplier, so each fragment is counted
once and scaled.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_interface_type,
    is_object_type,
    value_from_ast_untyped,
)

CONNECTION_SUFFIX = "Connection"
#: Field metadata: how many items a plain list of objects holds at most - an int, or PAGE
#: for the configured largest page (PAGE_SIZE_MAX).
MAX_ITEMS = "contentgraph.max_items"
PAGE = "page"


def declared_items(definition: GraphQLField, page_size_max: int) -> int | None:
    strawberry_field = (definition.extensions or {}).get("strawberry-definition")
    bound = getattr(strawberry_field, "metadata", {}).get(MAX_ITEMS)
    if bound is None:
        return None
    return page_size_max if bound == PAGE else int(bound)


class NodeCounter:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        default_size: int,
        page_size_max: int,
    ) -> None:
        self.schema, self.fragments, self.variables = schema, fragments, variables
        self.default_size, self.page_size_max = default_size, page_size_max
        self._counted: dict[str, int] = {}
        self._open: set[str] = set()

    def _page_size(self, field: FieldNode) -> int:
        for argument in field.arguments or ():
            if argument.name.value in {"first", "last"}:
                value = value_from_ast_untyped(argument.value, self.variables)
                if isinstance(value, int) and not isinstance(value, bool):
                    return max(value, 0)
        return self.default_size

    def _ids(self, field: FieldNode) -> int | None:
        for argument in field.arguments or ():
            value = value_from_ast_untyped(argument.value, self.variables)
            if isinstance(value, list):
                return len(value)
        return None

    def _factor(self, field: FieldNode, definition: GraphQLField, child: Any) -> int | None:
        """How many of ``child`` one ``field`` returns, when it returns many."""
        if child.name.endswith(CONNECTION_SUFFIX):
            return self._page_size(field)
        ids = self._ids(field)
        if ids is not None:
            return ids
        return declared_items(definition, self.page_size_max)

    def selection_set(self, selection_set: SelectionSetNode, parent: Any) -> int:
        """Nodes below one instance of ``parent``."""
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                fields = getattr(parent, "fields", None) if _has_fields(parent) else None
                definition = fields.get(selection.name.value) if fields else None
                if definition is None:  # __typename and introspection
                    continue
                child = get_named_type(definition.type)
                factor = self._factor(selection, definition, child)
                if factor is not None:
                    total += factor
                if selection.selection_set is not None:
                    total += (factor or 1) * self.selection_set(selection.selection_set, child)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(selection.selection_set, target)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
        return total

    def fragment(self, name: str) -> int:
        counted = self._counted.get(name)
        if counted is not None:
            return counted
        fragment = self.fragments.get(name)
        if fragment is None or name in self._open:
            return 0
        self._open.add(name)
        try:
            target = self.schema.get_type(fragment.type_condition.name.value)
            counted = self.selection_set(fragment.selection_set, target)
        finally:
            self._open.discard(name)
        self._counted[name] = counted
        return counted


def _has_fields(parent: GraphQLNamedType | None) -> bool:
    return is_object_type(parent) or is_interface_type(parent)


def count_nodes(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any],
    *,
    default_size: int,
    page_size_max: int,
) -> int:
    """The most nodes the chosen operation can return (0 when there is no such operation)."""
    operation = next(
        (
            d
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
            and (operation_name is None or (d.name is not None and d.name.value == operation_name))
        ),
        None,
    )
    if operation is None:
        return 0
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    counter = NodeCounter(schema, fragments, variables, default_size, page_size_max)
    return counter.selection_set(operation.selection_set, schema.get_root_type(operation.operation))
