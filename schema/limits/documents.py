"""Parsing and validating documents under the limits, once per document text.

The one place both the resolvers' path (schema.limits.guard) and the compiled read path
parse and validate: they share the rules and the caches, so a document the compiled path
declines costs nothing more on the other path, and a refused document repeated is refused
from the cache.

Cost on the 2-core development machine: parsing about 5.5 us and validating about 15 us per
token; bench/hostile.py measures it. MAX_QUERY_TOKENS bounds both; MAX_QUERY_BYTES bounds
what the lexer reads (strings, comments and blanks are lexed a character at a time).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import (
    ASTValidationRule,
    OverlappingFieldsCanBeMergedRule,
)
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from schema.errors import ErrorCode
from schema.limits.budget import Limits, too_complex
from schema.limits.nodes import count_nodes
from schema.limits.rule import document_limits_rule

#: Query text kept parsed and validated, in bytes (about 2,000 ordinary documents).
CACHE_BYTES = 256 * 1024
_TOKEN_LIMIT_MESSAGE = "Document contains more than"  # graphql-core's words, after "Syntax Error: "
#: graphql-core's rules for incremental delivery, which this schema does not offer, and its
#: pairwise merge rule, replaced by schema.limits.merging.
_LEFT_OUT = frozenset(
    {
        OverlappingFieldsCanBeMergedRule.__name__,
        "DeferStreamDirectiveOnRootField",
        "DeferStreamDirectiveOnValidOperationsRule",
        "DeferStreamDirectiveLabel",
        "StreamDirectiveOnListField",
    }
)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection while a document is parsed or validated.

    Both allocate tens of thousands of objects that stay alive until they finish; with the
    collector on, each collection meanwhile walks all of them again - up to half of a
    large document's time, in pauses of 30 ms and more. Afterwards one collection does it
    once. (Synchronous code: nothing else runs in between.)
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _first(entry: tuple[int, object]) -> int:
    return entry[0]


def validation_rules(limits: Limits) -> tuple[type[ASTValidationRule], ...]:
    standard = [rule for rule in specified_rules if rule.__name__ not in _LEFT_OUT]
    return (
        *standard,
        MaybeNullValidationRule,
        OneOfInputValidationRule,
        document_limits_rule(limits),
    )


def _unlink_tokens(document: DocumentNode) -> None:
    """Make the lexer's doubly linked token list singly linked.

    Each token points at the one before it and the one after: a cycle per document, which
    only the cyclic garbage collector can free. Under a stream of new documents those
    collections paused the process for up to 90 ms at a time; without the back links a
    document is freed the moment it is dropped. Nothing reads ``prev`` after parsing.
    """
    token = document.loc.start_token if document.loc is not None else None
    while token is not None:
        token.prev = None
        token = token.next


class Documents:
    def __init__(self, schema: GraphQLSchema, limits: Limits) -> None:
        self.schema, self.limits = schema, limits
        self.rules = validation_rules(limits)
        # Bounded by the texts' total size, not their number: a parsed document is some
        # objects a byte, and every full garbage collection walks all that are kept. A
        # thousand crafted 30 KiB documents kept made each collection pause for long.
        # (the values carry their text's size: cachetools sizes values, not keys)
        self._parsed: LRUCache[str, tuple[int, DocumentNode | GraphQLError]] = LRUCache(
            CACHE_BYTES, getsizeof=_first
        )
        self._validated: LRUCache[str, tuple[int, tuple[GraphQLError, ...]]] = LRUCache(
            CACHE_BYTES, getsizeof=_first
        )
        self.hits = self.misses = 0

    def parse(self, query: str) -> DocumentNode:
        """The document, or a GraphQLError with its code (parse failed, or too complex)."""
        cached = self._parsed.get(query)
        if cached is None:
            with collector_paused():
                found = self._parse_text(query)
        else:
            found = cached[1]
        if cached is None:
            with contextlib.suppress(ValueError):  # larger than the whole cache: not kept
                self._parsed[query] = (len(query), found)
        if isinstance(found, GraphQLError):
            raise found
        return found

    def validate(self, query: str) -> list[GraphQLError]:
        """Validation errors of a document that parsed (a fresh list: callers may add)."""
        cached = self._validated.get(query)
        if cached is not None:
            self.hits += 1
            return list(cached[1])
        self.misses += 1
        with collector_paused():
            found = self._validate_text(query)
        with contextlib.suppress(ValueError):
            self._validated[query] = (len(query), found)
        return list(found)

    def _parse_text(self, query: str) -> DocumentNode | GraphQLError:
        limits = self.limits
        size = len(query.encode())
        if size > limits.max_bytes:
            return too_complex(
                f"the document is {size} bytes; at most {limits.max_bytes} are allowed",
                "bytes",
                bytes=size,
                maxBytes=limits.max_bytes,
            )
        try:
            document = parse(query, max_tokens=limits.max_tokens)
        except GraphQLSyntaxError as error:
            if _TOKEN_LIMIT_MESSAGE in error.message:
                return too_complex(
                    f"the document has more than {limits.max_tokens} tokens",
                    "tokens",
                    maxTokens=limits.max_tokens,
                )
            error.extensions = {"code": ErrorCode.GRAPHQL_PARSE_FAILED.value}
            return error
        except RecursionError:
            return too_complex("the document nests too deeply to be parsed", "depth")
        _unlink_tokens(document)
        return document

    def _validate_text(self, query: str) -> tuple[GraphQLError, ...]:
        document = self.parse(query)
        try:
            return tuple(validate(self.schema, document, self.rules))
        except RecursionError:
            return (too_complex("the document nests too deeply to be validated", "depth"),)

    def node_errors(
        self, document: DocumentNode, operation_name: str | None, variables: dict[str, Any]
    ) -> list[GraphQLError]:
        """QUERY_TOO_COMPLEX when the operation could return more nodes than allowed."""
        limits = self.limits
        estimated = count_nodes(
            self.schema,
            document,
            operation_name,
            variables,
            default_size=limits.default_page_size,
            page_size_max=limits.max_page_size,
        )
        if estimated <= limits.max_nodes:
            return []
        return [
            too_complex(
                f"the operation could return {estimated} nodes; the limit is "
                f"{limits.max_nodes} - ask for smaller pages",
                "nodes",
                estimatedNodes=estimated,
                maxNodes=limits.max_nodes,
            )
        ]
