"""The consistency protocol between blobs and rows (DESIGN: "no orphans, no dangling rows").

1. The upload is streamed to a temporary blob (hashed, counted, stopped at the limit), fsynced.
2. ``inspect`` judges it from its bytes against the storage entity.
3. ``record``, inside the caller's transaction and under the blob's lock, places the blob at
   its content address (or finds it there) and adds the ``stored_file`` row. The blob is durable
   before the row can commit.
4. After the transaction that dropped rows commits, ``collect`` removes each blob no row
   references any more - again under the blob's lock, so a concurrent dedup cannot lose it.
A crash between 3 and commit leaves an unreferenced blob, which ``gc`` removes after a grace
period; it never leaves a row without its blob.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import StoredFile
from app.db.transactions import writing
from app.events import ChangeKind, Event, files_topic, record
from app.storage.blobs import BlobStore, TempBlob
from app.storage.entities import ENTITIES, Limits, StorageEntity, limits_for
from app.storage.filenames import sanitise
from app.storage.locks import lock_blob
from app.storage.probe import NotAcceptable, Probe, probe_stream, sniff

logger = logging.getLogger("contentgraph.storage")

BlobRef = tuple[str, str]  # (entity, sha256)


@dataclass(frozen=True, slots=True)
class Incoming:
    """An uploaded file as the services see it: the client's name, and its temporary blob."""

    filename: str | None
    blob: TempBlob


@dataclass(frozen=True, slots=True)
class Inspected:
    incoming: Incoming
    probe: Probe
    filename: str


class Files:
    def __init__(self, blobs: BlobStore, settings: Settings) -> None:
        self.blobs, self.settings = blobs, settings

    def entity(self, name: str) -> StorageEntity:
        return ENTITIES[name]

    def limits(self, name: str) -> Limits:
        return limits_for(self.settings, name)

    async def inspect(self, entity_name: str, incoming: Incoming) -> Inspected:
        """Refuse (NotAcceptable) what the entity does not take, judging by the bytes."""
        entity, limits = self.entity(entity_name), self.limits(entity_name)
        if incoming.blob.size > limits.max_bytes:
            raise NotAcceptable(f"the file exceeds {limits.max_bytes} bytes")
        if incoming.blob.size == 0:
            raise NotAcceptable("the file is empty")
        if entity.images_only:
            probe = await anyio.to_thread.run_sync(self._probe_image, incoming.blob)
        else:
            probe = Probe(sniff(incoming.blob.head))
        return Inspected(incoming, probe, sanitise(incoming.filename, probe.content_type))

    def _probe_image(self, blob: TempBlob) -> Probe:
        with self.blobs.temp_reader(blob) as handle:
            return probe_stream(handle, blob.size, max_pixels=self.settings.image_max_pixels)

    async def record(
        self,
        session: AsyncSession,
        entity: str,
        inspected: Inspected,
        uploaded_by: uuid.UUID | None,
    ) -> StoredFile:
        """Place the blob and add its row, in the caller's (write) transaction."""
        blob = inspected.incoming.blob
        await lock_blob(session, entity, blob.sha256)
        await self.blobs.place(entity, blob)
        row = StoredFile(
            id=uuid.uuid4(),
            entity=entity,
            filename=inspected.filename,
            content_type=inspected.probe.content_type,
            size=blob.size,
            sha256=blob.sha256,
            width=inspected.probe.width,
            height=inspected.probe.height,
            uploaded_by_id=uploaded_by,
        )
        session.add(row)
        record(session, Event(files_topic(entity), ChangeKind.FILE_CREATED, row.id.hex))
        return row

    async def collect(self, session: AsyncSession, refs: Iterable[BlobRef]) -> int:
        """After commit: remove the blobs no row references any more. Returns how many.

        Best effort: the change it follows has committed, so a failure here is logged and left
        to ``contentgraph gc`` (an unreferenced blob is waste, never an inconsistency).
        """
        removed = 0
        for entity, sha256 in sorted(set(refs)):
            try:
                if await self.collect_one(session, entity, sha256):
                    removed += 1
            except Exception:
                logger.exception("could not collect blob %s/%s; gc will", entity, sha256)
        return removed

    async def collect_one(self, session: AsyncSession, entity: str, sha256: str) -> bool:
        async with writing(session):
            await lock_blob(session, entity, sha256)
            used = await session.scalar(
                select(exists().where(StoredFile.entity == entity, StoredFile.sha256 == sha256))
            )
            return not used and await self.blobs.delete(entity, sha256)
