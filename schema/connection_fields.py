"""One factory for the root connection fields (contacts, albums, users, roles).

Their arguments, scope, ordering, default, filter and statement all come from the listing's
declaration (schema.declarations), so a new listing is one declaration and one line here -
and the compiled read path, which reads the same declaration, picks it up as well.
"""

# No `from __future__ import annotations` here: the resolvers' annotations name the declared
# types (the order enum, the filter input, the node type) at runtime, where Strawberry reads
# them from the function.

from typing import Any

import strawberry

from schema.context import Info
from schema.declarations import RootListing
from schema.pagination import Connection, root_connection


def root_connection_field(
    declared: RootListing[Any], node: Any, loader: str, description: str
) -> Any:
    """A Relay connection field for ``declared``, answering ``node`` objects (by its
    ``from_row``) and priming the request's ``loader`` with the rows of the page."""
    order_type = declared.listing.orders
    default_order = declared.listing.default_order
    filter_type = declared.filter_input

    async def page(
        info: Info,
        filter: Any,
        order_by: Any,
        window: tuple[int | None, str | None, int | None, str | None],
    ) -> Connection[Any]:
        return await root_connection(
            info,
            declared,
            filter=filter,
            order_by=order_by,
            window=window,
            loader=getattr(info.context.loaders, loader),
            to_node=node.from_row,
        )

    if filter_type is None:

        async def unfiltered(
            info: Info,
            first: int | None = None,
            after: str | None = None,
            last: int | None = None,
            before: str | None = None,
            order_by: order_type = default_order,  # type: ignore[valid-type]
        ) -> Connection[node]:
            return await page(info, None, order_by, (first, after, last, before))

        return strawberry.field(resolver=unfiltered, description=description)

    async def filtered(
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: filter_type | None = None,  # type: ignore[valid-type]
        order_by: order_type = default_order,  # type: ignore[valid-type]
    ) -> Connection[node]:
        return await page(info, filter, order_by, (first, after, last, before))

    return strawberry.field(resolver=filtered, description=description)
