"""Per-request DataLoaders: every relation is fetched in one batch per level, never per node."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader as StrawberryDataLoader

from app.db import codec, queries
from app.db.database import Database
from app.db.models import Album, Contact, Photo, Role, StoredFile, User
from app.db.paging import Page, Window
from app.kv.cache import NoCache, RowCache
from app.observability import metrics
from app.services.albums import PHOTO_SORTS, PhotoOrder
from app.shared_tasks import shared

PhotoPageKey = tuple[uuid.UUID, PhotoOrder, Window]
K = TypeVar("K")
V = TypeVar("V")
N = TypeVar("N")


class DataLoader(StrawberryDataLoader[K, V]):
    """A DataLoader whose shared futures survive the cancellation of one awaiting resolver.

    graphql-core cancels the sibling fields of a field that fails; a plain DataLoader hands
    every resolver the same cached future, so cancelling one waiter cancelled the future for
    all of them and a CancelledError escaped the whole operation. Each waiter gets a shield.
    """

    def load(self, key: K) -> Awaitable[V]:
        return asyncio.shield(shared(super().load(key)))

    def primed(self, to_node: Callable[[Any], N]) -> Callable[[Any], N]:
        """Wrap a row-to-node function so every row a list returns also fills this cache.

        A photo's ``album`` inside an album list is then answered without another query.
        """

        def convert(row: Any) -> N:
            self.prime(row.id, row)
            return to_node(row)

        return convert


class Loaders:
    def __init__(
        self, db: Database, cache: RowCache | None = None, *, background: bool = False
    ) -> None:
        """``background``: for subscription events, which read through the background pool,
        so however many fan out, requests keep their connections."""
        self._sessions = db.background if background else db.session
        self._cache: RowCache = cache or NoCache()
        self.contact = DataLoader(self._load(Contact, "contact"))
        self.album = DataLoader(self._load(Album, "album"))
        self.photo = DataLoader(self._load(Photo, "photo"))
        self.file = DataLoader(self._load(StoredFile, "file"))
        self.photo_page: DataLoader[PhotoPageKey, Page[Photo]] = DataLoader(self._photo_pages)
        self.photo_count: DataLoader[uuid.UUID, int] = DataLoader(self._photo_counts)
        self.user = DataLoader(self._load(User, "user"))
        self.role = DataLoader(self._load(Role, "role"))
        self.roles_of_user: DataLoader[uuid.UUID, list[Role]] = DataLoader(self._roles_of_users)

    def session(self) -> AsyncSession:
        """A read session from the pool these loaders use."""
        return self._sessions()

    def _load(self, model: type[queries.ModelT], kind: str):  # type: ignore[no-untyped-def]
        """By-id batches: the shared row cache first (one round trip), SQL for the misses
        only (one statement), and the misses written back under the versions read first."""

        async def batch(ids: Sequence[uuid.UUID]) -> list[queries.ModelT | None]:
            hexes = [key.hex for key in ids]
            read = await self._cache.lookup(kind, hexes)
            metrics.row_cache_lookups.labels(kind=kind, result="hit").inc(len(read.hits))
            metrics.row_cache_lookups.labels(kind=kind, result="miss").inc(len(read.misses))
            found: dict[str, queries.ModelT | None] = {
                key: codec.decode(model, raw) for key, raw in read.hits.items()
            }
            if read.misses:
                wanted = [uuid.UUID(hex=key) for key in read.misses]
                async with self.session() as session:
                    rows = await queries.by_ids(session, model, wanted)
                fresh = [(key.hex, row) for key, row in zip(wanted, rows, strict=True)]
                found.update(fresh)
                await self._cache.store(
                    kind,
                    read,
                    [(key, codec.encode(model, row)) for key, row in fresh if row is not None],
                )
            return [found.get(key) for key in hexes]

        return batch

    async def _photo_pages(self, keys: Sequence[PhotoPageKey]) -> list[Page[Photo]]:
        # Albums asking for the same window and order share one statement.
        groups: dict[tuple[PhotoOrder, Window], list[uuid.UUID]] = defaultdict(list)
        for album_id, order, window in keys:
            groups[(order, window)].append(album_id)
        pages: dict[PhotoPageKey, Page[Photo]] = {}
        async with self.session() as session:
            for (order, window), album_ids in groups.items():
                found = await queries.photo_pages(session, album_ids, PHOTO_SORTS[order], window)
                for album_id, page in zip(album_ids, found, strict=True):
                    pages[(album_id, order, window)] = page
        return [pages[key] for key in keys]

    async def _roles_of_users(self, user_ids: Sequence[uuid.UUID]) -> list[list[Role]]:
        async with self.session() as session:
            return await queries.roles_of_users(session, user_ids)

    async def _photo_counts(self, album_ids: Sequence[uuid.UUID]) -> list[int]:
        async with self.session() as session:
            return await queries.photo_counts(session, album_ids)
