"""Every check on a document is linear in its size, and every limit answers QUERY_TOO_COMPLEX.

The hostile documents of bench/hostile_documents.py (fragment fan-out, repeated fields, alias
floods, deep nesting, long strings, the whole schema...) are each parsed and validated with a
profiler counting Python calls: the count is bounded by the limits alone, whatever the
document - where Strawberry's limiters and graphql-core's merge rule once made 2^40 walks of
a 1.5 KB document. Speed itself is measured by bench/hostile.py.
"""

from __future__ import annotations

import random
import sys
from types import FrameType
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    is_interface_type,
    is_non_null_type,
    is_object_type,
    parse,
    validate,
)
from graphql.validation import OverlappingFieldsCanBeMergedRule
from starlette.applications import Starlette

from app.config import Settings
from bench.hostile_documents import fragment_fan_out, hostile_documents
from schema.limits import Limits
from schema.limits.rule import document_limits_rule
from tests.conftest import as_admin

#: Python calls allowed per token and per byte of a document's parsing and validation: about
#: twice the most any hostile document needs (measured: 155 per token for 1,000 fields in one
#: selection set, 1.2 per byte for a 32 KiB string of escapes).
CALLS_PER_TOKEN, CALLS_PER_BYTE = 320, 3


def calls_during(work: Any) -> int:
    calls = 0

    def count(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        work()
    finally:
        sys.setprofile(None)
    return calls


def test_every_hostile_document_costs_work_bounded_by_the_limits(app: Starlette) -> None:
    schema = app.state.graphql.schema
    documents, settings = schema.documents, app.state.settings
    ceiling = CALLS_PER_TOKEN * settings.max_query_tokens + CALLS_PER_BYTE * (
        settings.max_query_bytes
    )
    verdicts: dict[str, str] = {}
    for name, query in hostile_documents(schema._schema, settings):

        def judge(query: str = query, name: str = name) -> None:
            try:
                document = documents.parse(query)
            except GraphQLError as error:
                verdicts[name] = str((error.extensions or {}).get("code"))
                return
            errors = documents.validate(query) or documents.node_errors(document, None, {})
            verdicts[name] = str((errors[0].extensions or {}).get("code")) if errors else "valid"

        calls = calls_during(judge)
        assert calls < ceiling, (name, calls, ceiling)
    # Each got an answer; the crafted ones a refusal, the fan-out (linear now) a validation.
    assert verdicts["fragment fan-out x40"] == "valid"
    assert verdicts["repeated fields x10,000"] == "QUERY_TOO_COMPLEX"
    assert verdicts["alias flood, under the tokens"] == "QUERY_TOO_COMPLEX"
    assert verdicts["subscription escaping the node limit"] == "QUERY_TOO_COMPLEX"
    assert verdicts["the whole schema, 6 levels"] == "QUERY_TOO_COMPLEX"


async def test_a_fragment_fan_out_is_answered_over_http(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """2^40 paths through the fragments, one selection: validated once per fragment."""
    await as_admin(app, client)
    response = await client.post("/graphql", json={"query": fragment_fan_out(40)})
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"me": {"__typename": "User"}}}


@pytest.mark.parametrize(
    ("query", "limit"),
    [
        ("{ " + "me { id } " * 4000 + "}", "bytes"),
        ("{ " + "__typename " * 1500 + "}", "tokens"),
        ("query { ...Nope }", None),
    ],
)
async def test_refusals_name_their_limit(
    app: Starlette, client: httpx.AsyncClient, query: str, limit: str | None
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": query},
        headers={"Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    if limit is None:  # an undefined fragment is the client's mistake, not a server fault
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    else:
        assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert error["extensions"]["limit"] == limit


# The merge rule against graphql-core's, on generated documents.


class MergeDocuments:
    """Selections from the live schema where response names collide on purpose: aliases from
    a pool of two, fields under inline fragments on objects and interfaces, named fragments,
    differing arguments."""

    def __init__(self, schema: GraphQLSchema, rng: random.Random) -> None:
        self.schema, self.rng = schema, rng
        self.fragments: list[str] = []

    def name(self, field: str) -> str:
        roll = self.rng.random()
        return f"{self.rng.choice('ab')}: {field}" if roll < 0.45 else field

    def arguments(self, type_: GraphQLObjectType, field: str) -> str:
        args = type_.fields[field].args
        chosen = []
        if "first" in args and self.rng.random() < 0.5:
            chosen.append(f"first: {self.rng.choice([1, 2])}")
        if "id" in args:
            chosen.append(f'id: "{self.rng.choice("xy")}"')
        if "entity" in args:
            chosen.append("entity: ALBUMS_PHOTOS")
        if "ids" in args:
            chosen.append('ids: ["x"]')
        return f"({', '.join(chosen)})" if chosen else ""

    def selection(self, type_: Any, depth: int) -> str:
        fields = list(type_.fields)
        parts = []
        for field in self.rng.choices(fields, k=self.rng.randint(1, 4)):  # repeats: on purpose
            definition = type_.fields[field]
            required = {n for n, a in definition.args.items() if is_non_null_type(a.type)}
            if required - {"id", "ids", "entity"}:
                continue
            named = get_named_type(definition.type)
            head = self.name(field) + self.arguments(type_, field)
            if is_object_type(named) or is_interface_type(named):
                if depth <= 0:
                    continue
                parts.append(f"{head} {{ {self.selection(named, depth - 1)} }}")
            else:
                parts.append(head)
        if self.rng.random() < 0.3:
            parts.append(self.fragment_on(type_, depth))
        if is_interface_type(type_) and self.rng.random() < 0.8:
            # Fragments on two implementations: their fields may differ, their shapes not.
            parts += [self.fragment_on(type_, depth) for _ in range(2)]
        return " ".join(parts) or "__typename"

    def fragment_on(self, type_: Any, depth: int) -> str:
        targets = [type_]
        if is_interface_type(type_):
            targets += list(self.schema.get_possible_types(type_))
        target = self.rng.choice(targets)
        body = self.selection(target, depth - 1) if depth > 0 else "__typename"
        if self.rng.random() < 0.5:
            return f"... on {target.name} {{ {body} }}"
        name = f"F{len(self.fragments)}"
        self.fragments.append(f"fragment {name} on {target.name} {{ {body} }}")
        return f"...{name}"

    def document(self) -> str:
        query = self.schema.query_type
        assert query is not None
        root = self.selection(query, 3)
        return f"{{ {root} }} {' '.join(self.fragments)}"


def _conflicts(errors: list[GraphQLError]) -> bool:
    return any("conflict" in error.message for error in errors)


def test_field_merging_agrees_with_graphql_core(app: Starlette, backend_settings: Settings) -> None:
    """Same verdict as graphql-core's pairwise rule, on documents made to collide."""
    schema: GraphQLSchema = app.state.graphql.schema._schema
    generous = Limits.from_settings(
        backend_settings.model_copy(update={"max_query_tokens": 100_000, "max_aliases": 10_000})
    )
    ours = document_limits_rule(generous)
    verdicts = {True: 0, False: 0}
    for seed in range(600):
        query = MergeDocuments(schema, random.Random(seed)).document()
        document = parse(query)
        expected = _conflicts(validate(schema, document, [OverlappingFieldsCanBeMergedRule]))
        found = _conflicts(validate(schema, document, [ours]))
        assert found == expected, query
        verdicts[expected] += 1
    # Both verdicts well represented, or the comparison proves little.
    assert min(verdicts.values()) > 100, verdicts


def test_the_merge_generator_reaches_interfaces_and_fragments(app: Starlette) -> None:
    """Interfaces (Node) and fragments are where the merging rules differ most."""
    schema: GraphQLSchema = app.state.graphql.schema._schema
    seen: set[str] = set()
    for seed in range(100):
        query = MergeDocuments(schema, random.Random(seed)).document()
        seen.update(word for word in ("node(", "nodes(", "... on", "...F") if word in query)
    assert seen == {"node(", "nodes(", "... on", "...F"}
