"""The compiled read path: a whole query answered by one SQL statement that builds its JSON.

Used only where it gives the same answer as the resolvers: the document parses and validates
under the same rules and limits, every field is in schema.declarations, the viewer holds
every scope the fields need, and the arguments make a valid window under the node limit.
Anything else - errors included - is left to normal execution, which reports it. PostgreSQL
only; on SQLite every operation takes the normal path.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from cachetools import LRUCache
from graphql import GraphQLError, GraphQLSchema
from graphql.execution.values import get_argument_values, get_variable_values

from app.auth.viewer import Viewer
from app.config import Settings
from app.db.database import Database
from app.db.paging import InvalidCursor, InvalidWindow, Window
from app.observability import metrics
from app.services.search import ListFilter, like_pattern
from app.storage.urls import DownloadUrls
from schema.compiled.compiler import Unsupported, compile_operation, select_operation
from schema.compiled.markers import Cursors, FileUrls
from schema.compiled.plan import Binding, ListingShape, Plan, Slot, SlotShape
from schema.compiled.statements import FILTER_FIELDS, VIEWER, Renderer
from schema.declarations import NODE_SCOPES
from schema.errors import BadUserInput
from schema.filters import filter_from_arguments
from schema.ids import decode_global_id, parse_global_id
from schema.limits import Documents

logger = logging.getLogger("contentgraph.compiled")

PLAN_CACHE_BYTES = 1024 * 1024  # of query text
_NOT_COMPILED = object()
#: Statements kept per plan: one per shape (ordering, direction, filters, node types).
MAX_SHAPES = 64
#: json_build_array takes at most 100 arguments.
MAX_NODES = 100


class CompiledReads:
    def __init__(
        self,
        *,
        schema: GraphQLSchema,
        documents: Documents,
        settings: Settings,
        db: Database,
        urls: DownloadUrls,
    ) -> None:
        self.schema, self.settings, self.db = schema, settings, db
        self.documents = documents
        self.urls = FileUrls(urls)
        self.cursors = Cursors()
        # Bounded by the texts' size, as schema.limits.documents is: plans hold documents.
        self._plans: LRUCache[tuple[str, str | None], tuple[int, object]] = LRUCache(
            PLAN_CACHE_BYTES, getsizeof=lambda entry: entry[0]
        )
        #: Operations answered by the compiled path (for /metrics and the differential test).
        self.answered = 0
        #: Operations the compiled path took on and then failed (each a bug of this path: the
        #: resolvers answered instead). The differential test requires none.
        self.failed = 0

    def plan(self, query: str, operation_name: str | None) -> Plan | None:
        """The plan for a document, compiled once; None when it must run the normal way."""
        cache_key = (query, operation_name)
        cached = self._plans.get(cache_key)
        found = cached[1] if cached is not None else self._compile(query, operation_name)
        if cached is None:
            with contextlib.suppress(ValueError):  # larger than the whole cache: not kept
                self._plans[cache_key] = (len(query), found)
        return found if isinstance(found, Plan) else None

    def _compile(self, query: str, operation_name: str | None) -> object:
        try:
            document = self.documents.parse(query)
        except GraphQLError:
            return _NOT_COMPILED
        if self.documents.validate(query):
            return _NOT_COMPILED
        operation = select_operation(document, operation_name)
        if operation is None:
            return _NOT_COMPILED
        try:
            plan = compile_operation(self.schema, document, operation)
        except Unsupported as reason:
            logger.debug("not compiled (%s): %.80s", reason, query)
            return _NOT_COMPILED
        return plan

    async def answer(self, plan: Plan, bound: Binding, viewer: Viewer) -> bytes | None:
        """The response body, or None to leave the operation to normal execution."""
        if not bound.scopes <= viewer.scopes:
            return None
        statement = plan.statements.get(bound.shape)
        if statement is None:
            if len(plan.statements) >= MAX_SHAPES:  # nodes(ids) can name types in any order
                plan.statements.clear()
            renderer = Renderer(plan, bound.shape, self.urls.marker, self.cursors.marker)
            statement = plan.statements[bound.shape] = renderer.render()
        params = bound.params
        if plan.uses_viewer:  # a copy: an operation without variables shares its binding
            params = {**params, VIEWER: viewer.user_id}
        data = await self.db.fetch_json(statement.sql, statement.bind(params))
        body = b'{"data":' + data.encode() + b"}"
        if plan.has_urls:
            body = self.urls.finish(body)
        if plan.has_cursors:
            body = self.cursors.finish(body)
        self.answered += 1
        metrics.count_compiled_read(1)
        return body

    def bind(
        self, plan: Plan, raw_variables: dict[str, Any], operation_name: str | None
    ) -> Binding | None:
        """Each slot's parameters and shape, or None where the normal path must answer (bad
        variables, a bad id, window, cursor or filter, an id of a type that does not
        compile, too many nodes).
        Needs no viewer, so an operation the normal path refuses costs no session lookup.
        An operation without variables binds the same way every time: once."""
        if plan.operation.variable_definitions:
            return self._bind(plan, raw_variables, operation_name)
        if not plan.static_bound:
            plan.static_binding, plan.static_bound = self._bind(plan, {}, operation_name), True
        return plan.static_binding

    def _bind(
        self, plan: Plan, raw_variables: dict[str, Any], operation_name: str | None
    ) -> Binding | None:
        variables = get_variable_values(
            self.schema, plan.operation.variable_definitions or (), raw_variables
        )
        if isinstance(variables, list):
            return None
        shapes: list[SlotShape] = []
        params: dict[tuple[Any, ...], object] = {}
        scopes = set(plan.scopes)
        try:
            for number, slot in enumerate(plan.slots):
                arguments = get_argument_values(slot.definition, slot.node, variables)
                if slot.type_name is not None:
                    params[number, "id"] = decode_global_id(arguments["id"], slot.type_name)
                    shapes.append(None)
                elif slot.node_types is not None:
                    shape = self._bind_nodes(number, slot, arguments, params, scopes)
                    if shape is None:
                        return None
                    shapes.append(shape)
                else:
                    shapes.append(self._bind_listing(number, slot, arguments, params))
        except (GraphQLError, BadUserInput, InvalidWindow, InvalidCursor, ValueError) as refused:
            logger.debug("not bound (%s)", refused)
            return None
        if plan.has_connections and self.documents.node_errors(
            plan.document,
            operation_name,
            raw_variables,  # as the resolvers' path sees them
        ):
            return None
        kept = tuple(bool(variables.coerced[c.variable]) == c.include for c in plan.conditions)
        return Binding((tuple(shapes), kept), params, frozenset(scopes))

    def _bind_nodes(
        self,
        number: int,
        slot: Slot,
        arguments: dict[str, Any],
        params: dict[tuple[Any, ...], object],
        scopes: set[str],
    ) -> SlotShape:
        """node / nodes: the type each id names decides the statement; None to decline."""
        assert slot.node_types is not None
        ids = arguments["ids"] if slot.many else [arguments["id"]]
        if len(ids) > min(self.settings.page_size_max, MAX_NODES):
            return None
        types = []
        for index, global_id in enumerate(ids):
            type_name, key = parse_global_id(global_id)
            if slot.node_types.get(type_name) is None:
                return None
            scopes.add(NODE_SCOPES[type_name])
            params[(number, "id", index) if slot.many else (number, "id")] = key
            types.append(type_name)
        return tuple(types) if slot.many else types[0]

    def _bind_listing(
        self,
        number: int,
        slot: Slot,
        arguments: dict[str, Any],
        params: dict[tuple[Any, ...], object],
    ) -> ListingShape:
        assert slot.listing is not None
        window = Window.from_arguments(
            first=arguments.get("first"),
            after=arguments.get("after"),
            last=arguments.get("last"),
            before=arguments.get("before"),
            default_size=self.settings.page_size_default,
            max_size=self.settings.page_size_max,
        )
        order = arguments.get("orderBy")
        order = slot.listing.default_order if order is None else slot.listing.orders(order)
        sort = slot.listing.sorts[order]
        params[number, "limit"] = window.limit
        for role, cursor in (("after", window.after), ("before", window.before)):
            if cursor is not None:
                for index, value in enumerate(sort.decode(cursor)):
                    params[number, role, index] = value
        given: tuple[bool, ...] = ()
        if slot.root is not None:
            criteria = ListFilter()
            if slot.root.filter_input is not None:
                criteria = filter_from_arguments(slot.root.filter_input, arguments.get("filter"))
            values = [getattr(criteria, name) for name in FILTER_FIELDS]
            given = tuple(value is not None for value in values)
            for name, value in zip(FILTER_FIELDS, values, strict=True):
                if value is not None:
                    # A search binds its LIKE pattern: what text_search makes of a term.
                    bound = like_pattern(value) if name == "search" else value
                    params[number, "filter", name] = bound
        return ListingShape(
            sort.name, window.forward, window.after is not None, window.before is not None, given
        )
