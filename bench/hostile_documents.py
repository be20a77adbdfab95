"""Hostile GraphQL documents: the attacks of issue #10 and what can be generated from the schema.

Each is sized to the edge of a limit (just under and just over MAX_QUERY_BYTES, MAX_QUERY_TOKENS
or the request body), because a document a little under a limit is the one that is parsed and
validated in full. Used by bench/hostile.py (timings against a live server) and by
tests/test_document_limits.py (work per token, in-process).
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    is_enum_type,
    is_input_object_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    is_scalar_type,
)

from app.config import Settings


def _fit(unit: str, budget: int, head: str = "{ ", tail: str = " }") -> str:
    """``unit`` repeated as often as fits in ``budget`` characters."""
    count = max((budget - len(head) - len(tail)) // max(len(unit), 1), 1)
    return head + unit * count + tail


def fragment_fan_out(depth: int, on: str = "User", root: str = "{ me { ...F0 } }") -> str:
    """F0 spreads F1 twice, F1 spreads F2 twice, ...: 2^depth paths in 30 bytes a level."""
    parts = [root]
    for level in range(depth):
        inner = f"...F{level + 1} ...F{level + 1}" if level < depth - 1 else "__typename"
        parts.append(f"fragment F{level} on {on} {{ {inner} }}")
    return " ".join(parts)


def fragment_chain(length: int) -> str:
    """F0 spreads F1 spreads F2 ...: no fan-out, but recursion as deep as the chain is long."""
    parts = ["{ me { ...F0 } }"]
    for level in range(length):
        inner = f"...F{level + 1}" if level < length - 1 else "id"
        parts.append(f"fragment F{level} on User {{ {inner} }}")
    return " ".join(parts)


def many_fragments(count: int) -> str:
    """One selection set spreading ``count`` distinct fragments that select the same fields:
    what a large Relay app sends, and quadratic for graphql-core's merge rule."""
    spreads = " ".join(f"...C{i}" for i in range(count))
    fragments = " ".join(
        f"fragment C{i} on Contact {{ id name email createdAt avatar {{ id url width }} }}"
        for i in range(count)
    )
    return f"query Q {{ contacts(first: 10) {{ nodes {{ {spreads} }} }} }} {fragments}"


def nested_fields(levels: int) -> str:
    inner = "id"
    for _ in range(levels):
        inner = f"photos(first: 1) {{ nodes {{ album {{ {inner} }} }} }}"
    return f'{{ album(id: "x") {{ {inner} }} }}'


def nested_brackets(levels: int, kind: str = "[") -> str:
    """Parser recursion: a list or input object nested ``levels`` deep in an argument."""
    if kind == "[":
        value = "[" * levels + "1" + "]" * levels
    else:
        value = "{a: " * levels + "1" + "}" * levels
    return f"{{ contacts(filter: {{search: {value}}}) {{ totalCount }} }}"


def introspection_fan_out(depth: int) -> str:
    return fragment_fan_out(depth, on="__Type", root="{ __schema { types { ...F0 } } }")


def _arguments(field: GraphQLField) -> str:
    """Made-up values for every required argument (and a page size where there is one)."""
    parts = []
    for name, argument in field.args.items():
        named = get_named_type(argument.type)
        if name in {"first", "last"}:
            parts.append(f"{name}: 100")
        elif not is_non_null_type(argument.type):
            continue
        elif is_list_type(argument.type.of_type):
            parts.append(f'{name}: ["x"]')
        elif is_input_object_type(named):
            parts.append(f"{name}: {{}}")
        elif is_enum_type(named):
            parts.append(f"{name}: {next(iter(named.values))}")
        elif is_scalar_type(named) and named.name in {"Int", "Float"}:
            parts.append(f"{name}: 1")
        elif is_scalar_type(named) and named.name == "Boolean":
            parts.append(f"{name}: true")
        else:
            parts.append(f'{name}: "x"')
    return f"({', '.join(parts)})" if parts else ""


def _selection(type_: GraphQLObjectType, depth: int, budget: list[int]) -> str:
    """Every field of ``type_`` and, ``depth`` levels down, of the types they return."""
    parts = []
    for name, field in type_.fields.items():
        if budget[0] <= 0:
            break
        named = get_named_type(field.type)
        if is_object_type(named):
            if depth > 0:
                inner = _selection(named, depth - 1, budget)
                if inner:
                    parts.append(f"{name}{_arguments(field)} {{ {inner} }}")
        elif not field.args or all(not is_non_null_type(a.type) for a in field.args.values()):
            parts.append(name)
        budget[0] -= 1
    return " ".join(parts)


def whole_schema(schema: GraphQLSchema, depth: int) -> str:
    """Every query field, every field below it, ``depth`` levels deep, from the live schema."""
    query = schema.query_type
    assert query is not None
    return "{ " + _selection(query, depth, [100_000]) + " }"


def hostile_documents(schema: GraphQLSchema, settings: Settings) -> Iterator[tuple[str, str]]:
    """(name, document) pairs. Sized around MAX_QUERY_BYTES (with room for a comment a benchmark
    adds) and MAX_QUERY_TOKENS, and up to the
    request body limit for the ones that are refused by size."""
    max_bytes, tokens = settings.max_query_bytes, settings.max_query_tokens
    whole_body = settings.max_request_bytes - 1024  # room for the JSON around the query
    yield "fragment fan-out x40", fragment_fan_out(40)
    yield (
        "fragment fan-out x40 (album, nested)",
        fragment_fan_out(40, on="Album", root='{ album(id: "x") { ...F0 } }'),
    )
    yield "introspection fan-out x40", introspection_fan_out(40)
    # Four tokens a repetition: "me { id }".
    yield "repeated fields, under the tokens", _fit("me { id } ", (tokens // 4 - 2) * 10)
    yield "repeated fields x10,000", _fit("me { id } ", 10_000 * 10)
    yield "repeated __typename, under the tokens", _fit("__typename ", (tokens - 3) * 11)
    yield "repeated __typename x10,000", _fit("__typename ", 10_000 * 11)
    yield (
        "alias flood, under the tokens",
        "{ " + " ".join(f"a{i}: __typename" for i in range(tokens // 3 - 2)) + " }",
    )
    yield "alias flood to the body limit", _fit("a: __typename ", whole_body)
    yield "many fragments, under the tokens", many_fragments(tokens // 22)
    yield "fragment chain, under the tokens", fragment_chain(tokens // 8 - 1)
    yield "nested fields x100", nested_fields(100)
    yield "nested lists, under the tokens", nested_brackets(tokens // 2 - 20)
    yield "nested input objects, under the tokens", nested_brackets(tokens // 4 - 20, "{")
    yield (
        "nested braces to the body limit",
        "{ a " + "{ a " * (whole_body // 4) + "}" * (whole_body // 4) + " }",
    )
    yield (
        "string literal, under the bytes",
        '{ contacts(filter: {search: "' + "x" * (max_bytes - 120) + '"}) { totalCount } }',
    )
    yield (
        "string literal to the body limit",
        '{ contacts(filter: {search: "' + "x" * (whole_body - 80) + '"}) { totalCount } }',
    )
    yield (
        "block string, under the bytes",
        '{ contacts(filter: {search: """'
        + "x\n" * ((max_bytes - 120) // 2)
        + '"""}) { totalCount } }',
    )
    yield "comment, under the bytes", "#" + "x" * (max_bytes - 80) + "\n{ __typename }"
    yield "blanks, under the bytes", " " * (max_bytes - 80) + "{ __typename }"
    yield (
        "unicode escapes, under the bytes",
        '{ contacts(filter: {search: "'
        + "\\u00e9" * ((max_bytes - 120) // 6)
        + '"}) { totalCount } }',
    )
    yield (
        "variable definitions, under the tokens",
        "query(" + " ".join(f"$v{i}: Int" for i in range(tokens // 4 - 5)) + ") { __typename }",
    )
    yield (
        "directives, under the tokens",
        "{ __typename" + " @include(if: true)" * (tokens // 6 - 2) + " }",
    )
    yield (
        "arguments, under the tokens",
        "{ contacts("
        + " ".join(f"first: {i}" for i in range(tokens // 3 - 10))
        + ") { totalCount } }",
    )
    yield "undefined fragment", "query { ...Nope }"
    yield "the whole schema, 3 levels", whole_schema(schema, 3)
    yield "the whole schema, 6 levels", whole_schema(schema, 6)
    yield (
        "subscription escaping the node limit",
        (
            'subscription { albumChanged(id: "QWxidW06MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw")'
            " { photos { album { photos(first: 100) { nodes { album { title } } } } } } }"
        ),
    )
