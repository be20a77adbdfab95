"""Turn a validated query document into a Plan, or say it cannot be compiled.

Compilation is all or nothing: one field outside schema.compiled.mapping, a directive, a
fragment on an interface, a cursor or pageInfo, and the operation runs on the normal
resolvers. That keeps the compiled path small enough to prove equal to them.
"""

from __future__ import annotations

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)

from schema.compiled.mapping import (
    ROOT_LISTINGS,
    ROOT_OBJECTS,
    TYPES,
    Listing,
    TableType,
    Value,
)
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
    Slot,
    ToOneField,
    TotalCountPart,
    Typename,
)

#: json_build_object takes at most 100 arguments: 50 keys.
MAX_KEYS = 50
PAGE_INFO_FIELDS = frozenset(
    {"hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename"}
)


class Unsupported(Exception):
    """The operation uses something the compiled path does not answer."""


def select_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


class Compiler:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema, self.document = schema, document
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.slots: list[Slot] = []
        self.scopes: set[str] = set()
        self.has_urls = False
        self.has_cursors = False
        self.has_connections = False

    def compile(self, operation: OperationDefinitionNode) -> Plan:
        if operation.operation is not OperationType.QUERY or operation.directives:
            raise Unsupported("only queries compile")
        root = self.schema.query_type
        assert root is not None
        fields: list[Field] = []
        for node in self._collect(operation.selection_set, root.name):
            fields.append(self._root_field(root, node))
        return Plan(
            document=self.document,
            operation=operation,
            fields=fields,
            slots=self.slots,
            scopes=frozenset(self.scopes),
            has_urls=self.has_urls,
            has_cursors=self.has_cursors,
            has_connections=self.has_connections,
        )

    def _collect(self, selection_set: SelectionSetNode | None, type_name: str) -> list[FieldNode]:
        """The fields selected on ``type_name``, fragments flattened; keys must be unique."""
        if selection_set is None:
            raise Unsupported("a composite field without a selection")
        found: list[FieldNode] = []
        for selection in selection_set.selections:
            if selection.directives:
                raise Unsupported("directives")
            if isinstance(selection, FieldNode):
                found.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is not None and condition.name.value != type_name:
                    raise Unsupported("a fragment on another type")
                found.extend(self._collect(selection.selection_set, type_name))
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                if fragment.directives or fragment.type_condition.name.value != type_name:
                    raise Unsupported("a fragment on another type")
                found.extend(self._collect(fragment.selection_set, type_name))
        keys = [key(node) for node in found]
        if len(set(keys)) != len(keys):
            raise Unsupported("a response key selected twice")
        if len(keys) > MAX_KEYS:
            raise Unsupported("too many keys for one JSON object")
        return found

    def _slot(self, parent: GraphQLObjectType, node: FieldNode, **kind: object) -> int:
        self.slots.append(Slot(parent.fields[node.name.value], node, **kind))  # type: ignore[arg-type]
        return len(self.slots) - 1

    def _root_field(self, root: GraphQLObjectType, node: FieldNode) -> Field:
        name = node.name.value
        if name == "__typename":
            return Typename(key(node), root.name)
        if name in ROOT_OBJECTS:
            found = ROOT_OBJECTS[name]
            self.scopes.add(found.scope)
            slot = self._slot(root, node, type_name=found.target)
            return RootObjectField(key(node), slot, self._selection(TYPES[found.target], node))
        if name in ROOT_LISTINGS:
            listed = ROOT_LISTINGS[name]
            self.scopes.add(listed.scope)
            return self._connection(root, node, listed.listing)
        raise Unsupported(f"Query.{name}")

    def _selection(self, table: TableType, node: FieldNode) -> Selection:
        fields: list[Field] = []
        parent = self.schema.get_type(table.name)
        assert isinstance(parent, GraphQLObjectType)
        for child in self._collect(node.selection_set, table.name):
            name = child.name.value
            if name == "__typename":
                fields.append(Typename(key(child), table.name))
                continue
            if name in table.columns:
                if child.arguments or child.selection_set:
                    raise Unsupported("arguments on a column")
                column = table.columns[name]
                self.has_urls |= column.value is Value.FILE_URL
                fields.append(ColumnField(key(child), column))
            elif name in table.to_one:
                relation = table.to_one[name]
                self.scopes.update(relation.scopes)
                target = TYPES[relation.target]
                fields.append(
                    ToOneField(key(child), relation.column, self._selection(target, child))
                )
            elif name in table.listings:
                fields.append(self._connection(parent, child, table.listings[name]))
            elif name in table.counts:
                fields.append(CountField(key(child), table.counts[name]))
            else:
                raise Unsupported(f"{table.name}.{name}")
        return Selection(table, fields)

    def _connection(
        self, parent: GraphQLObjectType, node: FieldNode, listing: Listing
    ) -> ConnectionField:
        self.has_connections = True
        slot = self._slot(parent, node, listing=listing)
        target = TYPES[listing.target]
        connection_type = get_named_type(parent.fields[node.name.value].type)
        assert isinstance(connection_type, GraphQLObjectType)
        parts: list[Typename | EdgesPart | NodePart | TotalCountPart | PageInfoPart] = []
        for child in self._collect(node.selection_set, connection_type.name):
            name = child.name.value
            if name == "__typename":
                parts.append(Typename(key(child), connection_type.name))
            elif name == "nodes":
                parts.append(NodePart(key(child), self._selection(target, child)))
            elif name == "totalCount":
                parts.append(TotalCountPart(key(child)))
            elif name == "edges":
                edge_type = get_named_type(connection_type.fields["edges"].type)
                edge_fields: list[Typename | NodePart | CursorPart] = []
                for edge_child in self._collect(child.selection_set, edge_type.name):
                    if edge_child.name.value == "__typename":
                        edge_fields.append(Typename(key(edge_child), edge_type.name))
                    elif edge_child.name.value == "cursor":
                        self.has_cursors = True
                        edge_fields.append(CursorPart(key(edge_child)))
                    elif edge_child.name.value == "node":
                        edge_fields.append(
                            NodePart(key(edge_child), self._selection(target, edge_child))
                        )
                    else:
                        raise Unsupported(f"{edge_type.name}.{edge_child.name.value}")
                parts.append(EdgesPart(key(child), edge_type.name, edge_fields))
            elif name == "pageInfo":
                info_type = get_named_type(connection_type.fields["pageInfo"].type)
                info = [
                    (key(c), c.name.value)
                    for c in self._collect(child.selection_set, info_type.name)
                ]
                if any(name not in PAGE_INFO_FIELDS for _, name in info):
                    raise Unsupported("a PageInfo field")
                self.has_cursors |= any(name.endswith("Cursor") for _, name in info)
                parts.append(PageInfoPart(key(child), info))
            else:
                raise Unsupported(f"{connection_type.name}.{name}")
        return ConnectionField(key(node), slot, listing, target, parts)


def key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def compile_operation(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> Plan:
    return Compiler(schema, document).compile(operation)
