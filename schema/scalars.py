"""Custom scalars, mapped to Python types through ``StrawberryConfig.scalar_map``."""

from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

MAX_SAFE_INTEGER = 2**53 - 1

#: File sizes: GraphQL's Int stops at 2^31-1 (2 GiB); this holds any file we can store.
SafeInt = NewType("SafeInt", int)


def _parse_safe_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_SAFE_INTEGER:
        raise ValueError(f"SafeInt must be an integer within +/-{MAX_SAFE_INTEGER}")
    return value


SCALAR_MAP: dict[object, ScalarDefinition] = {
    SafeInt: strawberry.scalar(
        name="SafeInt",
        description=(
            "An integer up to 2^53-1, sent as a JSON number: exact in every JavaScript client. "
            "File sizes use it because GraphQL's Int stops at 2^31-1 (2 GiB)."
        ),
        specified_by_url="https://the-guild.dev/graphql/scalars/docs/scalars/safe-int",
        serialize=_parse_safe_int,
        parse_value=_parse_safe_int,
    )
}
