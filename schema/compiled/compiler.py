"""Turn a validated query document into a Plan, or say it cannot be compiled.

Compilation is all or nothing: one field outside schema.declarations, a directive other than
@include/@skip, or a field merge it cannot follow, and the operation runs on the normal
resolvers. That keeps the compiled path small enough to prove equal to them.
"""

from __future__ import annotations

import json
from typing import Any

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)

from app.auth.scopes import SCOPES
from schema.compiled.plan import (
    ColumnField,
    Condition,
    Conditional,
    ConnectionField,
    ConstantField,
    CountField,
    CursorPart,
    EdgesPart,
    Field,
    NodeField,
    NodePart,
    PageInfoPart,
    Plan,
    RootObjectField,
    Selection,
    Slot,
    ToManyField,
    ToOneField,
    TotalCountPart,
    Typename,
    ViewerField,
)
from schema.declarations import (
    NODE_SCOPES,
    ROOT_LISTINGS,
    ROOT_OBJECTS,
    TYPES,
    VIEWER_OBJECTS,
    Listing,
    RootListing,
    TableType,
    Value,
)

#: json_build_object takes at most 100 arguments: 50 keys.
MAX_KEYS = 50
PAGE_INFO_FIELDS = frozenset(
    {"hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename"}
)
#: The types node/nodes compile for: declared tables whose read needs one scope.
NODE_TYPES = tuple(name for name in TYPES if name in NODE_SCOPES)


class Unsupported(Exception):
    """The operation uses something the compiled path does not answer."""


def select_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


#: A selected field and the conditions (indexes into Plan.conditions) it is kept under.
Collected = tuple[FieldNode, tuple[int, ...]]


class Compiler:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema, self.document = schema, document
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.slots: list[Slot] = []
        self.conditions: list[Condition] = []
        self.scopes: set[str] = set()
        self.has_urls = False
        self.has_cursors = False
        self.has_connections = False
        self.uses_viewer = False

    def compile(self, operation: OperationDefinitionNode) -> Plan:
        if operation.operation is not OperationType.QUERY or operation.directives:
            raise Unsupported("only queries compile")
        root = self.schema.query_type
        assert root is not None
        fields: list[Field] = []
        for node, conditions in self._collect(operation.selection_set, root.name):
            fields.append(_when(conditions, self._root_field(root, node)))
        return Plan(
            document=self.document,
            operation=operation,
            fields=fields,
            slots=self.slots,
            conditions=self.conditions,
            scopes=frozenset(self.scopes),
            has_urls=self.has_urls,
            has_cursors=self.has_cursors,
            has_connections=self.has_connections,
            uses_viewer=self.uses_viewer,
        )

    # -- selections ---------------------------------------------------------------------

    def _collect(self, selection_set: SelectionSetNode | None, type_name: str) -> list[Collected]:
        """The fields selected on ``type_name``, fragments flattened and fields of one
        response key merged, each with its @include/@skip conditions."""
        if selection_set is None:
            raise Unsupported("a composite field without a selection")
        found: list[Collected] = []
        self._gather(selection_set, type_name, (), found, set())
        merged: dict[str, Collected] = {}
        for node, conditions in found:
            seen = merged.get(key(node))
            merged[key(node)] = (
                (node, conditions) if seen is None else _merge(seen, node, conditions)
            )
        if len(merged) > MAX_KEYS:
            raise Unsupported("too many keys for one JSON object")
        return list(merged.values())

    def _gather(
        self,
        selection_set: SelectionSetNode,
        type_name: str,
        inherited: tuple[int, ...],
        found: list[Collected],
        spread: set[tuple[str, tuple[int, ...]]],
    ) -> None:
        """Fields in document order. A fragment spread again under the same conditions adds
        nothing new: it is expanded once, or a fan-out of fragments (each spreading the next
        twice) would be expanded once per path - 2^40 of them in tests/test_document_limits."""
        for selection in selection_set.selections:
            conditions = self._conditions(selection.directives or (), inherited)
            if conditions is None:
                continue  # @skip(if: true) or @include(if: false)
            if isinstance(selection, FieldNode):
                found.append((selection, conditions))
            elif isinstance(selection, InlineFragmentNode):
                if self._applies(selection.type_condition, type_name):
                    self._gather(selection.selection_set, type_name, conditions, found, spread)
            elif isinstance(selection, FragmentSpreadNode):
                if (selection.name.value, conditions) in spread:
                    continue
                spread.add((selection.name.value, conditions))
                fragment = self.fragments[selection.name.value]
                if fragment.directives:
                    raise Unsupported("a directive on a fragment definition")
                if self._applies(fragment.type_condition, type_name):
                    self._gather(fragment.selection_set, type_name, conditions, found, spread)

    def _applies(self, condition: NamedTypeNode | None, type_name: str) -> bool:
        """Whether a fragment's type condition holds for objects of ``type_name``."""
        if condition is None or condition.name.value == type_name:
            return True
        target = self.schema.get_type(condition.name.value)
        concrete = self.schema.get_type(type_name)
        if isinstance(target, GraphQLInterfaceType) and isinstance(concrete, GraphQLObjectType):
            return target in concrete.interfaces
        return False

    def _conditions(
        self,
        directives: tuple[DirectiveNode, ...] | list[DirectiveNode],
        inherited: tuple[int, ...],
    ) -> tuple[int, ...] | None:
        """The conditions a selection is kept under; None when a literal drops it."""
        conditions = list(inherited)
        for directive in directives:
            name = directive.name.value
            arguments = directive.arguments or ()
            if name not in ("include", "skip") or len(arguments) != 1:
                raise Unsupported(f"@{name}")
            value = arguments[0].value
            include = name == "include"
            if isinstance(value, BooleanValueNode):
                if value.value != include:
                    return None
            elif isinstance(value, VariableNode):
                self.conditions.append(Condition(value.name.value, include))
                conditions.append(len(self.conditions) - 1)
            else:
                raise Unsupported("a condition that is neither a literal nor a variable")
        return tuple(conditions)

    def _slot(self, parent: GraphQLObjectType, node: FieldNode, **kind: object) -> int:
        self.slots.append(Slot(parent.fields[node.name.value], node, **kind))  # type: ignore[arg-type]
        return len(self.slots) - 1

    # -- fields -------------------------------------------------------------------------

    def _root_field(self, root: GraphQLObjectType, node: FieldNode) -> Field:
        name = node.name.value
        if name == "__typename":
            return Typename(key(node), root.name)
        if name in ROOT_OBJECTS:
            found = ROOT_OBJECTS[name]
            self.scopes.add(found.scope)
            slot = self._slot(root, node, type_name=found.target)
            return RootObjectField(key(node), slot, self._selection(TYPES[found.target], node))
        if name in ("node", "nodes"):
            return self._node_field(root, node, many=name == "nodes")
        if name in VIEWER_OBJECTS:
            self.uses_viewer = True
            return ViewerField(key(node), self._selection(TYPES[VIEWER_OBJECTS[name]], node))
        if name == "scopes":
            return self._scopes(root, node)
        declared = ROOT_LISTINGS.get(name)
        if declared is not None and declared.listing.target in TYPES:
            self.scopes.add(declared.scope)
            return self._connection(root, node, declared.listing, declared)
        raise Unsupported(f"Query.{name}")

    def _scopes(self, root: GraphQLObjectType, node: FieldNode) -> ConstantField:
        """Every scope a role can grant: app.auth.scopes, fixed for the server's life."""
        scope_type = get_named_type(root.fields["scopes"].type)
        keys = [
            (key(c), c.name.value) for c in self._unconditional(node.selection_set, scope_type.name)
        ]
        if any(name not in ("__typename", "name", "description") for _, name in keys):
            raise Unsupported("a Scope field")
        listed = []
        for scope, description in SCOPES.items():
            values = {"__typename": scope_type.name, "name": scope, "description": description}
            listed.append({k: values[name] for k, name in keys})
        return ConstantField(key(node), json.dumps(listed))

    def _node_field(self, root: GraphQLObjectType, node: FieldNode, *, many: bool) -> NodeField:
        """A selection per type an id may name. A type whose selection does not compile
        gets None: ids of it go to the resolvers, the others still compile."""
        selections: dict[str, Selection | None] = {}
        for type_name in NODE_TYPES:
            saved = (len(self.slots), len(self.conditions), set(self.scopes))
            flags = (self.has_urls, self.has_cursors, self.has_connections)
            try:
                selections[type_name] = self._selection(TYPES[type_name], node)
            except Unsupported:
                del self.slots[saved[0] :], self.conditions[saved[1] :]
                self.scopes = saved[2]
                self.has_urls, self.has_cursors, self.has_connections = flags
                selections[type_name] = None
        if not any(selections.values()):
            raise Unsupported("no node type compiles")
        slot = self._slot(root, node, node_types=selections, many=many)
        return NodeField(key(node), slot, selections, many)

    def _selection(self, table: TableType, node: FieldNode) -> Selection:
        fields: list[Field] = []
        parent = self.schema.get_type(table.name)
        assert isinstance(parent, GraphQLObjectType)
        for child, conditions in self._collect(node.selection_set, table.name):
            fields.append(_when(conditions, self._object_field(table, parent, child)))
        return Selection(table, fields)

    def _object_field(self, table: TableType, parent: GraphQLObjectType, child: FieldNode) -> Field:
        name = child.name.value
        if name == "__typename":
            return Typename(key(child), table.name)
        if name in table.columns:
            if child.arguments or child.selection_set:
                raise Unsupported("arguments on a column")
            column = table.columns[name]
            self.has_urls |= column.value is Value.FILE_URL
            return ColumnField(key(child), column)
        if name in table.to_one:
            relation = table.to_one[name]
            self.scopes.update(relation.scopes)
            target = TYPES[relation.target]
            return ToOneField(key(child), relation.column, self._selection(target, child))
        if name in table.listings:
            return self._connection(parent, child, table.listings[name])
        if name in table.counts:
            return CountField(key(child), table.counts[name])
        if name in table.to_many:
            linked = table.to_many[name]
            return ToManyField(key(child), linked, self._selection(TYPES[linked.target], child))
        raise Unsupported(f"{table.name}.{name}")

    def _connection(
        self,
        parent: GraphQLObjectType,
        node: FieldNode,
        listing: Listing[Any],
        root: RootListing[Any] | None = None,
    ) -> ConnectionField:
        self.has_connections = True
        slot = self._slot(parent, node, listing=listing, root=root)
        target = TYPES[listing.target]
        connection_type = get_named_type(parent.fields[node.name.value].type)
        assert isinstance(connection_type, GraphQLObjectType)
        parts: list[Typename | EdgesPart | NodePart | TotalCountPart | PageInfoPart] = []
        for child in self._unconditional(node.selection_set, connection_type.name):
            name = child.name.value
            if name == "__typename":
                parts.append(Typename(key(child), connection_type.name))
            elif name == "nodes":
                parts.append(NodePart(key(child), self._selection(target, child)))
            elif name == "totalCount":
                parts.append(TotalCountPart(key(child)))
            elif name == "edges":
                parts.append(self._edges(connection_type, child, target))
            elif name == "pageInfo":
                info_type = get_named_type(connection_type.fields["pageInfo"].type)
                info = [
                    (key(c), c.name.value)
                    for c in self._unconditional(child.selection_set, info_type.name)
                ]
                if any(name not in PAGE_INFO_FIELDS for _, name in info):
                    raise Unsupported("a PageInfo field")
                self.has_cursors |= any(name.endswith("Cursor") for _, name in info)
                parts.append(PageInfoPart(key(child), info))
            else:
                raise Unsupported(f"{connection_type.name}.{name}")
        return ConnectionField(key(node), slot, listing, target, parts, root)

    def _edges(
        self, connection_type: GraphQLObjectType, node: FieldNode, target: TableType
    ) -> EdgesPart:
        edge_type = get_named_type(connection_type.fields["edges"].type)
        fields: list[Typename | NodePart | CursorPart] = []
        for child in self._unconditional(node.selection_set, edge_type.name):
            if child.name.value == "__typename":
                fields.append(Typename(key(child), edge_type.name))
            elif child.name.value == "cursor":
                self.has_cursors = True
                fields.append(CursorPart(key(child)))
            elif child.name.value == "node":
                fields.append(NodePart(key(child), self._selection(target, child)))
            else:
                raise Unsupported(f"{edge_type.name}.{child.name.value}")
        return EdgesPart(key(node), edge_type.name, fields)

    def _unconditional(
        self, selection_set: SelectionSetNode | None, type_name: str
    ) -> list[FieldNode]:
        """Connection, edge and pageInfo fields: conditions there are left to the resolvers."""
        collected = self._collect(selection_set, type_name)
        if any(conditions for _, conditions in collected):
            raise Unsupported("a condition inside a connection")
        return [node for node, _ in collected]


def _when(conditions: tuple[int, ...], field: Field) -> Field:
    return Conditional(conditions, field) if conditions else field


def _merge(seen: Collected, node: FieldNode, conditions: tuple[int, ...]) -> Collected:
    """Two selections of one response key (validation made them the same field with the same
    arguments): one field with both sub-selections, as graphql-core merges them. A field is
    there when any of its selections is: unconditional wins; two different conditions on a
    leaf, or any on an object (whose sub-selections would differ by them), are not followed."""
    first, first_conditions = seen
    if first.selection_set is None or node.selection_set is None:
        if conditions == first_conditions or not first_conditions:
            return seen
        if not conditions:
            return first, ()
        raise Unsupported("one response key under different conditions")
    if conditions != first_conditions:
        raise Unsupported("one object field under different conditions")
    selections = (*first.selection_set.selections, *node.selection_set.selections)
    return replace_node(first, SelectionSetNode(selections=selections)), conditions


def replace_node(node: FieldNode, selection_set: SelectionSetNode) -> FieldNode:
    return FieldNode(
        alias=node.alias,
        name=node.name,
        arguments=node.arguments,
        directives=(),
        selection_set=selection_set,
    )


def key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def compile_operation(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> Plan:
    return Compiler(schema, document).compile(operation)
