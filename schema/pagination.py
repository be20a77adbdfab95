"""Relay cursor connections over keyset pages (see app.db.paging).

A connection fetches its page once, however many of edges/nodes/pageInfo are selected, and
runs ``totalCount`` or the "other direction" pageInfo flag only when a client asks for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import strawberry
from sqlalchemy import Select

from app.config import Settings
from app.db import paging
from app.db.database import Database
from app.db.paging import InvalidCursor, InvalidWindow, Page, SortKey, Window
from app.shared_tasks import shared, uncancelled
from schema.errors import BadUserInput
from schema.filters import ListFilterInput, to_list_filter
from schema.permissions import require_scope

if TYPE_CHECKING:
    from schema.declarations import RootListing

NodeT = TypeVar("NodeT")
RowT = TypeVar("RowT")


def window_from_arguments(
    settings: Settings,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Window:
    try:
        return Window.from_arguments(
            first=first,
            after=after,
            last=last,
            before=before,
            default_size=settings.page_size_default,
            max_size=settings.page_size_max,
        )
    except InvalidWindow as exc:
        raise BadUserInput(str(exc), maxPageSize=settings.page_size_max) from None


class ConnectionSource(Protocol[RowT]):
    window: Window

    async def page(self) -> Page[RowT]: ...

    async def total_count(self) -> int: ...

    async def behind(self) -> bool:
        """Rows exist on the side of the cursor the page did not look at."""
        ...


class Memo(Generic[RowT]):
    """Run a coroutine once per connection, whoever asks first."""

    def __init__(self) -> None:
        self._task: asyncio.Future[Page[RowT]] | None = None

    async def get(self, make: Callable[[], Any]) -> Page[RowT]:
        if self._task is None:
            self._task = shared(make())
        # Shielded: graphql-core cancels a failing field's siblings, and one of them being
        # cancelled must not cancel the fetch the others are waiting for.
        return await asyncio.shield(self._task)


class QuerySource(Generic[RowT]):
    """A top-level listing: one statement for the page, more only for totalCount/pageInfo."""

    def __init__(self, db: Database, statement: Select[Any], sort: SortKey, window: Window):
        self.db, self.statement, self.sort, self.window = db, statement, sort, window
        self._memo: Memo[RowT] = Memo()

    async def _fetch(self) -> Page[RowT]:
        async with self.db.session() as session:
            return await paging.fetch_page(session, self.statement, self.sort, self.window)

    async def page(self) -> Page[RowT]:
        try:
            return await self._memo.get(self._fetch)
        except InvalidCursor as exc:
            raise BadUserInput(str(exc), argument="after/before") from None

    async def total_count(self) -> int:
        return await uncancelled(self._count())

    async def _count(self) -> int:
        async with self.db.session() as session:
            return await paging.count(session, self.statement)

    async def behind(self) -> bool:
        cursor = self.window.after if self.window.forward else self.window.before
        if cursor is None:
            return False
        return await uncancelled(self._exists_behind(cursor))

    async def _exists_behind(self, cursor: str) -> bool:
        async with self.db.session() as session:
            return await paging.exists_behind(
                session, self.statement, self.sort, cursor, forward=self.window.forward
            )


@strawberry.type(description="Where a page sits in the list (Relay connection spec).")
class PageInfo:
    start_cursor: str | None
    end_cursor: str | None
    _page: strawberry.Private[Page[Any]]
    _source: strawberry.Private[ConnectionSource[Any]]

    @strawberry.field
    async def has_next_page(self) -> bool:
        if self._page.has_next is not None:
            return self._page.has_next
        return await self._source.behind()

    @strawberry.field
    async def has_previous_page(self) -> bool:
        if self._page.has_previous is not None:
            return self._page.has_previous
        return await self._source.behind()


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    _source: strawberry.Private[ConnectionSource[Any]]
    _to_node: strawberry.Private[Callable[[Any], NodeT]]

    @strawberry.field
    async def edges(self) -> list[Edge[NodeT]]:
        page = await self._source.page()
        return [
            Edge(cursor=cursor, node=self._to_node(row))
            for row, cursor in zip(page.rows, page.cursors, strict=True)
        ]

    @strawberry.field(description="The nodes of the page, for clients that need no cursors.")
    async def nodes(self) -> list[NodeT]:
        page = await self._source.page()
        return [self._to_node(row) for row in page.rows]

    @strawberry.field
    async def page_info(self) -> PageInfo:
        page = await self._source.page()
        return PageInfo(
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
            _page=page,
            _source=self._source,
        )

    @strawberry.field(description="How many nodes match the filter, across all pages.")
    async def total_count(self) -> int:
        return await self._source.total_count()


def list_connection(
    context: Any,
    statement: Select[Any],
    sort: SortKey,
    window: Window,
    loader: Any,
    to_node: Callable[[Any], NodeT],
) -> Connection[NodeT]:
    """A root list field: one keyset query for the page, its rows priming the by-id loader."""
    source: QuerySource[object] = QuerySource(context.db, statement, sort, window)
    return Connection(_source=source, _to_node=loader.primed(to_node))


async def root_connection(
    info: Any,
    declared: RootListing[Any],
    *,
    filter: ListFilterInput | None,
    order_by: Any,
    window: tuple[int | None, str | None, int | None, str | None],
    loader: Any,
    to_node: Callable[[Any], NodeT],
) -> Connection[NodeT]:
    """A root connection as declared (schema.declarations): its scope, statement and sorts.
    ``window`` is the field's (first, after, last, before)."""
    await require_scope(info.context, declared.scope)
    return list_connection(
        info.context,
        declared.statement(to_list_filter(filter)),
        declared.listing.sorts[order_by],
        window_from_arguments(info.context.settings, *window),
        loader,
        to_node,
    )
