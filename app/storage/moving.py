"""Moving a store: copy every referenced blob from one blob store to another.

``contentgraph storage copy --to s3`` (or ``--to local``) walks the distinct blobs the
``stored_file`` rows reference, in keyset batches, and streams each from the store in use to the
other one the same way an upload arrives: into a temporary blob, hashed and counted on the way,
placed at its content address only when its SHA-256 and size are what the row says. So:

* a blob is never half there: an interruption leaves at most temporary blobs (``gc`` on the
  target removes them), never a wrong or partial blob at a content address;
* a re-run skips what the target already holds at the right size (``verify`` re-hashes those
  too), so running it again after an interruption - or once more after the switch, to catch
  up with uploads that came meanwhile - costs a listing, not a second copy;
* a source blob that is missing, or whose bytes are not what its row says, is reported, not
  copied; the exit status says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from sqlalchemy import func, select, tuple_

from app.db.database import Database
from app.db.models import StoredFile
from app.storage.blobs import BlobMissing, BlobStore, TooLarge
from app.storage.consistency import Problems

BATCH = 500
Referenced = tuple[str, str, int]  # entity, sha256, size


@dataclass
class CopyReport(Problems):
    copied: int = 0
    bytes_copied: int = 0
    present: int = 0
    #: Blobs at the target whose size or hash was wrong, copied again.
    replaced: int = 0
    failed: int = 0


async def count_referenced(db: Database) -> int:
    async with db.session() as session:
        distinct = select(StoredFile.entity, StoredFile.sha256).distinct().subquery()
        return int(await session.scalar(select(func.count()).select_from(distinct)) or 0)


async def referenced(db: Database) -> AsyncIterator[list[Referenced]]:
    """The distinct (entity, sha256, size) the rows reference, in keyset batches."""
    after: tuple[str, str] | None = None
    while True:
        statement = (
            select(StoredFile.entity, StoredFile.sha256, func.max(StoredFile.size))
            .group_by(StoredFile.entity, StoredFile.sha256)
            .order_by(StoredFile.entity, StoredFile.sha256)
            .limit(BATCH)
        )
        if after is not None:
            statement = statement.where(
                tuple_(StoredFile.entity, StoredFile.sha256) > tuple_(*after)
            )
        async with db.session() as session:
            rows = [(e, h, int(s)) for e, h, s in (await session.execute(statement)).all()]
        if not rows:
            return
        yield rows
        after = rows[-1][0], rows[-1][1]


async def copy_blob(
    source: BlobStore,
    target: BlobStore,
    entity: str,
    sha256: str,
    size: int,
    report: CopyReport,
    *,
    verify: bool = False,
) -> None:
    name = f"{entity}/{sha256}"
    there = await target.size_of(entity, sha256)
    if there is not None:
        if there == size and (not verify or await target.hash_of(entity, sha256) == sha256):
            report.present += 1
            return
        # Wrong bytes under the address (an earlier copy from a corrupt source, a bad disk):
        # place() would take them for a dedup hit, so they go first.
        await target.delete(entity, sha256)
        report.replaced += 1
    writer = target.writer(size)
    try:
        async for chunk in source.open(entity, sha256):
            await writer.write(chunk)
        blob = await writer.finish()
    except BlobMissing:
        await writer.abort()
        report.failed += 1
        report.note(f"missing in the source: {name} (a dangling row: see contentgraph fsck)")
        return
    except TooLarge:
        report.failed += 1  # (the writer removed what it had written)
        report.note(f"not copied: {name} is larger in the source than its rows' {size} bytes")
        return
    except BaseException:
        await asyncio.shield(writer.abort())
        raise
    try:
        if blob.sha256 != sha256 or blob.size != size:
            report.failed += 1
            report.note(
                f"not copied: {name} reads as {blob.size} bytes with SHA-256 {blob.sha256} "
                "in the source (corrupt there: see contentgraph fsck --verify)"
            )
            return
        await target.place(entity, blob)
        report.copied += 1
        report.bytes_copied += size
    finally:
        await asyncio.shield(target.discard(blob))


async def copy_store(
    db: Database,
    source: BlobStore,
    target: BlobStore,
    *,
    verify: bool = False,
    jobs: int = 4,
    tick: Callable[[int], None] | None = None,
) -> CopyReport:
    """Copy every referenced blob from ``source`` to ``target``, ``jobs`` at a time."""
    report = CopyReport()

    async def worker(queue: list[Referenced]) -> None:
        while queue:
            entity, sha256, size = queue.pop()
            try:
                await copy_blob(source, target, entity, sha256, size, report, verify=verify)
            except Exception as exc:  # a store failing for this blob: on to the next
                report.failed += 1
                report.note(f"could not copy {entity}/{sha256}: {type(exc).__name__}: {exc}")
            if tick:
                tick(1)

    async for batch in referenced(db):
        queue = list(batch)
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, min(jobs, len(queue)))):
                group.create_task(worker(queue))
    return report
