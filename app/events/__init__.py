"""Domain events: what changed, announced once the transaction that changed it commits.

Services record events on their session while they work. Just before the session commits they
are written to the outbox table, in the same transaction (app.events.outbox); the relay then
copies committed outbox rows to the event log every process reads (app.events.relay), and the
broker fans them out to subscribers (app.events.broker). A rolled-back transaction announces
nothing; a committed one always does, even if the process dies right after the commit.
Payloads are small - a kind and ids, never file bytes - and subscribers fetch the current
state themselves. Each event gets its outbox id, which orders events and lets a subscriber
resume after the last one it saw.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

logger = logging.getLogger("contentgraph.events")

PENDING = "contentgraph.events"
#: Events the outbox has written in the transaction now committing.
WRITTEN = "contentgraph.events.written"
SINK = "contentgraph.sink"


class ChangeKind(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    AVATAR_SET = "AVATAR_SET"
    AVATAR_REPLACED = "AVATAR_REPLACED"
    AVATAR_REMOVED = "AVATAR_REMOVED"
    PHOTOS_ADDED = "PHOTOS_ADDED"
    PHOTO_UPDATED = "PHOTO_UPDATED"
    PHOTOS_REORDERED = "PHOTOS_REORDERED"
    PHOTO_MOVED = "PHOTO_MOVED"
    PHOTO_REPLACED = "PHOTO_REPLACED"
    PHOTO_DELETED = "PHOTO_DELETED"
    FILE_CREATED = "FILE_CREATED"
    FILE_DELETED = "FILE_DELETED"
    #: Not a change: events may have been missed (older than the retention); refetch.
    RESYNC = "RESYNC"


@dataclass(frozen=True, slots=True)
class Event:
    topic: str  # "contact:<uuid hex>", "album:<uuid hex>", "files:<entity>"
    kind: ChangeKind
    subject: str  # the uuid hex of the contact, album or file
    photo_ids: tuple[str, ...] = field(default=())
    #: The outbox id: increasing in commit order; 0 until the event is recorded.
    id: int = 0

    @property
    def family(self) -> str:
        """What a list subscription follows: "contact", "album", "files", ..."""
        return self.topic.partition(":")[0]

    def encode(self) -> bytes:
        return orjson.dumps(
            {"t": self.topic, "k": self.kind.value, "s": self.subject, "p": list(self.photo_ids)}
        )

    @classmethod
    def decode(cls, raw: bytes | str, id: int = 0) -> Event:
        data = orjson.loads(raw)
        return cls(data["t"], ChangeKind(data["k"]), data["s"], tuple(data.get("p") or ()), id)


#: The families of topics a list subscription follows (``Event.family``).
CONTACT_FAMILY, ALBUM_FAMILY = "contact", "album"


def contact_topic(key: Any) -> str:
    return f"{CONTACT_FAMILY}:{key.hex}"


def album_topic(key: Any) -> str:
    return f"{ALBUM_FAMILY}:{key.hex}"


def files_topic(entity: str) -> str:
    return f"files:{entity}"


def user_changed(key: Any) -> Event:
    """Internal: keeps caches of the user's row honest (no public subscription)."""
    return Event(f"user:{key.hex}", ChangeKind.UPDATED, key.hex)


def role_changed(key: Any) -> Event:
    return Event(f"role:{key.hex}", ChangeKind.UPDATED, key.hex)


def record(session: AsyncSession, *events: Event) -> None:
    """Queue events on the session; the outbox writes them as it commits."""
    session.sync_session.info.setdefault(PENDING, []).extend(events)


Sink = Callable[[list[Event]], Awaitable[None]]


def install(session: AsyncSession, sink: Sink | None) -> AsyncSession:
    session.sync_session.info[SINK] = sink
    return session


async def publish_pending(session: AsyncSession) -> None:
    """After a commit: invalidate caches and wake the relay, before the caller answers its
    client - so a client never reads a value older than its own acknowledged change."""
    pending: list[Event] = session.sync_session.info.pop(WRITTEN, [])
    sink: Sink | None = session.sync_session.info.get(SINK)
    if pending and sink is not None:
        try:
            await sink(pending)
        except Exception:  # best effort: the change and its outbox rows have committed
            logger.exception("could not hand on %d events", len(pending))


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING, None)
    session.info.pop(WRITTEN, None)
