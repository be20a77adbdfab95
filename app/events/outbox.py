"""The transactional outbox: events written in the transaction of the change they announce.

A session's recorded events become ``event_outbox`` rows just before it commits, so the change
and its announcement commit together or not at all. Reading the outbox in id order must never
skip a row that commits later, so ids have to commit in increasing order: on PostgreSQL each
writer takes one transaction-scoped advisory lock after its last write and holds it through
COMMIT (a sequence alone hands out ids in insert order, not commit order). SQLite runs one
writer at a time already. The lock is taken only by transactions that announce something, after
they have flushed, so it orders commits without adding lock waits inside their work.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime

from sqlalchemy import delete, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.db.models import OutboxEvent
from app.events import PENDING, WRITTEN, ChangeKind, Event

#: The advisory lock that orders event commits (blob locks use other keys: app.storage.locks).
COMMIT_ORDER_LOCK = int.from_bytes(
    hashlib.sha256(b"contentgraph:event-outbox").digest()[:8], "big", signed=True
)


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    pending: list[Event] | None = session.info.pop(PENDING, None)
    if not pending:
        return
    session.flush()  # the transaction's own row locks first, then the ordering lock
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(COMMIT_ORDER_LOCK)))
    ids = connection.execute(
        insert(OutboxEvent).returning(OutboxEvent.id, sort_by_parameter_order=True),
        [
            {
                "topic": e.topic,
                "kind": e.kind.value,
                "subject": e.subject,
                "photo_ids": list(e.photo_ids),
            }
            for e in pending
        ],
    ).scalars()
    written = [replace(e, id=id) for e, id in zip(pending, ids, strict=True)]
    session.info.setdefault(WRITTEN, []).extend(written)


def _event(row: OutboxEvent) -> Event:
    return Event(row.topic, ChangeKind(row.kind), row.subject, tuple(row.photo_ids), row.id)


async def read_after(session: AsyncSession, after: int, limit: int) -> list[Event]:
    """Committed events with ids above ``after``, in order: always a prefix of what will
    ever commit above it (see the module's docstring)."""
    rows = await session.scalars(
        select(OutboxEvent).where(OutboxEvent.id > after).order_by(OutboxEvent.id).limit(limit)
    )
    return [_event(row) for row in rows]


async def bounds(session: AsyncSession) -> tuple[int, int]:
    """(lowest, highest) id kept; (0, 0) when empty."""
    low, high = (
        await session.execute(select(func.min(OutboxEvent.id), func.max(OutboxEvent.id)))
    ).one()
    return int(low or 0), int(high or 0)


async def horizon(session: AsyncSession, keep: int, recorded_after: datetime) -> int:
    """The lowest id to keep: the last ``keep`` events, and of those only the ones recorded
    after ``recorded_after`` - but always the newest, so the outbox tells how far ids went."""
    newest = await session.scalar(select(func.max(OutboxEvent.id)))
    if newest is None:
        return 0
    by_count = await session.scalar(
        select(OutboxEvent.id).order_by(OutboxEvent.id.desc()).offset(keep - 1).limit(1)
    )
    by_age = await session.scalar(
        select(func.min(OutboxEvent.id)).where(OutboxEvent.recorded_at > recorded_after)
    )
    return min(int(newest), max(int(by_count or 0), int(by_age if by_age is not None else newest)))


async def prune(session: AsyncSession, below: int) -> int:
    result = await session.execute(delete(OutboxEvent).where(OutboxEvent.id < below))
    return int(getattr(result, "rowcount", 0) or 0)
