"""Domain events: what changed, published after the transaction that changed it commits.

Services record events on their session while they work; when (and only when) the session
commits, the events go to the broker. A rolled-back transaction announces nothing. Payloads are
small - a kind and ids, never file bytes - and subscribers fetch the current state themselves.
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
    #: Not a change: events may have been missed (broker outage); refetch.
    RESYNC = "RESYNC"


@dataclass(frozen=True, slots=True)
class Event:
    topic: str  # "contact:<uuid hex>", "album:<uuid hex>", "files:<entity>"
    kind: ChangeKind
    subject: str  # the uuid hex of the contact, album or file
    photo_ids: tuple[str, ...] = field(default=())

    def encode(self) -> bytes:
        return orjson.dumps(
            {"t": self.topic, "k": self.kind.value, "s": self.subject, "p": list(self.photo_ids)}
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Event:
        data = orjson.loads(raw)
        return cls(data["t"], ChangeKind(data["k"]), data["s"], tuple(data.get("p") or ()))


def contact_topic(key: Any) -> str:
    return f"contact:{key.hex}"


def album_topic(key: Any) -> str:
    return f"album:{key.hex}"


def files_topic(entity: str) -> str:
    return f"files:{entity}"


def user_changed(key: Any) -> Event:
    """Internal: keeps caches of the user's row honest (no public subscription)."""
    return Event(f"user:{key.hex}", ChangeKind.UPDATED, key.hex)


def role_changed(key: Any) -> Event:
    return Event(f"role:{key.hex}", ChangeKind.UPDATED, key.hex)


def record(session: AsyncSession, *events: Event) -> None:
    """Queue events on the session; they are published if and when it commits."""
    session.sync_session.info.setdefault(PENDING, []).extend(events)


Sink = Callable[[list[Event]], Awaitable[None]]


def install(session: AsyncSession, sink: Sink | None) -> AsyncSession:
    session.sync_session.info[SINK] = sink
    return session


async def publish_pending(session: AsyncSession) -> None:
    """After a commit: invalidate caches and publish, before the caller answers its client -
    so a client never reads a value older than its own acknowledged change."""
    pending: list[Event] = session.sync_session.info.pop(PENDING, [])
    sink: Sink | None = session.sync_session.info.get(SINK)
    if pending and sink is not None:
        try:
            await sink(pending)
        except Exception:  # best effort: the change itself has committed
            logger.exception("could not publish %d events", len(pending))


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING, None)
