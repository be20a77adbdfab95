"""Refuse operations that would return too many nodes, before anything is fetched.

Depth and token limits bound an operation's text, not its result: ``albums(first: 100) {
photos(first: 100) { ... } }`` is shallow and short yet asks for 10,000 photos. This extension
multiplies page sizes down each path of connections (with the operation's variables, so it
runs at execution time) and refuses the operation when the total exceeds the limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    value_from_ast_untyped,
)
from graphql.execution import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

from schema.errors import ErrorCode

CONNECTION_SUFFIX = "Connection"


class _Estimator:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        default_size: int,
    ) -> None:
        self.schema, self.fragments, self.variables = schema, fragments, variables
        self.default_size = default_size

    def _page_size(self, field: FieldNode) -> int:
        for argument in field.arguments or ():
            if argument.name.value in {"first", "last"}:
                value = value_from_ast_untyped(argument.value, self.variables)
                if isinstance(value, int) and not isinstance(value, bool):
                    return max(value, 0)
        return self.default_size

    def _list_argument(self, field: FieldNode) -> int | None:
        for argument in field.arguments or ():
            value = value_from_ast_untyped(argument.value, self.variables)
            if isinstance(value, list):
                return len(value)
        return None

    def nodes(
        self,
        selection_set: SelectionSetNode,
        parent: Any,
        multiplier: int,
        seen: frozenset[str] = frozenset(),
    ) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                definition = getattr(parent, "fields", {}).get(selection.name.value)
                if definition is None:  # __typename and introspection
                    continue
                child_type = get_named_type(definition.type)
                child_multiplier = multiplier
                if child_type.name.endswith(CONNECTION_SUFFIX):
                    child_multiplier = multiplier * self._page_size(selection)
                    total += child_multiplier
                elif (ids := self._list_argument(selection)) is not None:
                    child_multiplier = multiplier * ids  # nodes(ids: [...]): one per id
                    total += child_multiplier
                if selection.selection_set:
                    total += self.nodes(selection.selection_set, child_type, child_multiplier, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.nodes(selection.selection_set, target, multiplier, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue
                target = self.schema.get_type(fragment.type_condition.name.value)
                total += self.nodes(fragment.selection_set, target, multiplier, seen | {name})
        return total


def estimate_nodes(
    schema: GraphQLSchema,
    document: Any,
    operation_name: str | None,
    variables: dict[str, Any],
    default_size: int,
) -> int:
    """The most nodes the operation's connections can return, given its page sizes."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    chosen = [
        o
        for o in operations
        if operation_name is None or (o.name and o.name.value == operation_name)
    ]
    if not chosen:
        return 0
    operation = chosen[0]
    root = schema.get_root_type(operation.operation)
    estimator = _Estimator(schema, fragments, variables, default_size)
    return estimator.nodes(operation.selection_set, root, 1)


class NodeLimit(SchemaExtension):
    def __init__(self, *, max_nodes: int, default_page_size: int) -> None:
        self.max_nodes = max_nodes
        self.default_page_size = default_page_size

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            estimated = estimate_nodes(
                context.schema._schema,
                document,
                context.operation_name,
                context.variables or {},
                self.default_page_size,
            )
            if estimated > self.max_nodes:
                context.result = GraphQLExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            f"the operation could return {estimated} nodes; the limit is "
                            f"{self.max_nodes} - ask for smaller pages",
                            extensions={
                                "code": ErrorCode.QUERY_TOO_COMPLEX.value,
                                "estimatedNodes": estimated,
                                "maxNodes": self.max_nodes,
                            },
                        )
                    ],
                )
        yield
