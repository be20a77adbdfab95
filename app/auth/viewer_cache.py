"""Recently resolved viewers, kept for a second, so a burst of requests with one token costs
one session lookup and one grants query instead of one each.

What may go stale is bounded: a user or role change committed in this process clears the cache
at once (before the mutation answers), one committed elsewhere clears it when the broker
delivers the event, and anything else - a session revoked through another process while the
broker is down - lasts at most ``ttl`` seconds, as for websocket re-checks.
"""

from __future__ import annotations

import time

from app.auth.viewer import Viewer
from app.events import ChangeKind, Event

MAX_ENTRIES = 10_000
#: The events that can change what a viewer may do.
_TOPICS = ("user:", "role:")


class ViewerCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Viewer | None]] = {}

    def get(self, digest: str) -> tuple[bool, Viewer | None]:
        """(found, viewer): a cached None means the token was refused."""
        entry = self._entries.get(digest)
        if entry is None:
            return False, None
        if entry[0] < time.monotonic():
            del self._entries[digest]
            return False, None
        return True, entry[1]

    def put(self, digest: str, viewer: Viewer | None) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + self.ttl, viewer)

    def clear(self) -> None:
        self._entries.clear()

    def on_events(self, events: list[Event]) -> None:
        if any(e.kind is ChangeKind.RESYNC or e.topic.startswith(_TOPICS) for e in events):
            self.clear()
