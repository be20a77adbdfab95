"""``fsck`` and ``gc``: prove that rows and blobs agree, and collect what nothing references.

Both stream: rows in keyset batches, blobs as the store lists them, each batch
checked against the other side with one query - a million files never sit in memory at once.

Both judge age by the same grace period (GC_GRACE_SECONDS): an unreferenced blob or a temp file
younger than that may belong to an upload in flight (its transaction not yet committed), or to
one a crash interrupted moments ago. ``gc`` leaves those alone, and ``fsck`` does not count them
as faults: right after a kill -9 it must not fail for what ``gc`` would rightly keep.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select

from app.db.database import Database
from app.db.models import StoredFile
from app.storage.blobs import BlobEntry, BlobStore
from app.storage.files import Files

BATCH = 1000
Tick = Callable[[int], None]


#: A report lists at most this many problems - a broken store could have millions - while its
#: counts stay exact.
MAX_PROBLEMS = 1000


@dataclass
class Problems:
    problems: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(line)


@dataclass
class FsckReport(Problems):
    rows: int = 0
    blobs: int = 0
    # Faults: rows and blobs disagree.
    dangling_rows: int = 0
    #: Unreferenced blobs older than the grace period: content no row records. Possibly a row
    #: lost (a restored database, a manual delete): worth a look before ``gc`` removes them.
    orphan_blobs: int = 0
    size_mismatches: int = 0
    hash_mismatches: int = 0
    # Not faults.
    #: Unreferenced blobs within the grace period: an upload may commit its row any moment.
    young_orphans: int = 0
    #: Temp files within the grace period: uploads being received.
    temp_in_flight: int = 0
    #: Temp files older than the grace period: uploads that never finished (a crash, a kill).
    #: No row can point at a temp file, so they are waste, not disagreement; ``gc`` removes them.
    temp_abandoned: int = 0

    @property
    def clean(self) -> bool:
        """No fault; young orphans and temp files (in flight or abandoned) do not count."""
        return not (
            self.dangling_rows or self.size_mismatches or self.hash_mismatches or self.orphan_blobs
        )


async def count_rows(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(StoredFile)) or 0)


async def _referenced(db: Database, batch: list[BlobEntry]) -> set[tuple[str, str]]:
    by_entity: dict[str, list[str]] = defaultdict(list)
    for entry in batch:
        by_entity[entry.entity].append(entry.sha256)
    found: set[tuple[str, str]] = set()
    async with db.session() as session:
        for entity, hashes in by_entity.items():
            rows = await session.execute(
                select(StoredFile.entity, StoredFile.sha256)
                .where(StoredFile.entity == entity, StoredFile.sha256.in_(hashes))
                .distinct()
            )
            found.update((e, h) for e, h in rows.all())
    return found


async def fsck(
    db: Database,
    blobs: BlobStore,
    *,
    grace_seconds: float,
    verify_hashes: bool = False,
    tick: Tick | None = None,
) -> FsckReport:
    """Check every row against its blob, then every blob and temp file against the rows."""
    report = FsckReport()
    cutoff = time.time() - grace_seconds
    after = None
    while True:
        statement = select(StoredFile).order_by(StoredFile.id).limit(BATCH)
        if after is not None:
            statement = statement.where(StoredFile.id > after)
        async with db.session() as session:
            rows = list((await session.scalars(statement)).all())
        if not rows:
            break
        after = rows[-1].id
        for row in rows:
            await _check_row(blobs, row, report, verify_hashes)
        report.rows += len(rows)
        if tick:
            tick(len(rows))

    batch: list[BlobEntry] = []

    async def flush() -> None:
        referenced = await _referenced(db, batch)
        for entry in batch:
            if (entry.entity, entry.sha256) in referenced:
                continue
            if entry.modified > cutoff:
                report.young_orphans += 1
                continue
            report.orphan_blobs += 1
            report.note(
                f"orphan blob {entry.entity}/{entry.sha256} ({entry.size} bytes, "
                f"{_age(entry.modified)} old)"
            )
        report.blobs += len(batch)
        if tick:
            tick(len(batch))
        batch.clear()

    async for entry in blobs.iterate():
        batch.append(entry)
        if len(batch) >= BATCH:
            await flush()
    await flush()

    async for temp in blobs.iterate_temp():
        if temp.modified > cutoff:
            report.temp_in_flight += 1
        else:
            report.temp_abandoned += 1
    return report


def _age(modified: float) -> str:
    seconds = max(0, int(time.time() - modified))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


async def _check_row(
    blobs: BlobStore, row: StoredFile, report: FsckReport, verify_hashes: bool
) -> None:
    size = await blobs.size_of(row.entity, row.sha256)
    if size is None:
        report.dangling_rows += 1
        report.note(f"dangling row {row.id}: blob {row.entity}/{row.sha256} is missing")
        return
    if size != row.size:
        report.size_mismatches += 1
        report.note(f"size mismatch {row.id}: row says {row.size}, blob has {size}")
    if verify_hashes and await blobs.hash_of(row.entity, row.sha256) != row.sha256:
        report.hash_mismatches += 1
        report.note(f"hash mismatch {row.id}: blob {row.entity}/{row.sha256} is corrupt")


@dataclass
class GcReport:
    orphans_removed: int = 0
    orphans_kept_young: int = 0
    temp_removed: int = 0
    bytes_freed: int = 0


async def gc(
    db: Database,
    files: Files,
    *,
    grace_seconds: float,
    dry_run: bool = False,
    tick: Tick | None = None,
) -> GcReport:
    """Remove orphan blobs and abandoned uploads older than the grace period.

    The grace period protects uploads in flight: a blob placed by a transaction that has not
    committed yet looks like an orphan for a moment. Each removal re-checks under the blob's
    lock, so a row that commits meanwhile keeps its blob.
    """
    report = GcReport()
    cutoff = time.time() - grace_seconds
    batch: list[BlobEntry] = []

    async def flush() -> None:
        referenced = await _referenced(db, batch)
        for entry in batch:
            if (entry.entity, entry.sha256) in referenced:
                continue
            if entry.modified > cutoff:
                report.orphans_kept_young += 1
                continue
            if dry_run:
                report.orphans_removed += 1
                report.bytes_freed += entry.size
                continue
            async with db.session() as session:
                if await files.collect_one(session, entry.entity, entry.sha256):
                    report.orphans_removed += 1
                    report.bytes_freed += entry.size
        if tick:
            tick(len(batch))
        batch.clear()

    async for entry in files.blobs.iterate():
        batch.append(entry)
        if len(batch) >= BATCH:
            await flush()
    await flush()

    async for temp in files.blobs.iterate_temp():
        if temp.modified <= cutoff:
            if not dry_run:
                await files.blobs.remove_temp(temp)
            report.temp_removed += 1
    return report
