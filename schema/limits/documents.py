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

import functools
from typing import Any

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

CACHE_SIZE = 1024
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


def validation_rules(limits: Limits) -> tuple[type[ASTValidationRule], ...]:
    standard = [rule for rule in specified_rules if rule.__name__ not in _LEFT_OUT]
    return (
        *standard,
        MaybeNullValidationRule,
        OneOfInputValidationRule,
        document_limits_rule(limits),
    )


class Documents:
    def __init__(self, schema: GraphQLSchema, limits: Limits) -> None:
        self.schema, self.limits = schema, limits
        self.rules = validation_rules(limits)
        self._parse = functools.lru_cache(maxsize=CACHE_SIZE)(self._parse_text)
        self._validate = functools.lru_cache(maxsize=CACHE_SIZE)(self._validate_text)

    def parse(self, query: str) -> DocumentNode:
        """The document, or a GraphQLError with its code (parse failed, or too complex)."""
        found = self._parse(query)
        if isinstance(found, GraphQLError):
            raise found
        return found

    def validate(self, query: str) -> list[GraphQLError]:
        """Validation errors of a document that parsed (a fresh list: callers may add)."""
        return list(self._validate(query))

    def cache_info(self) -> Any:
        return self._validate.cache_info()

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
            return parse(query, max_tokens=limits.max_tokens)
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
