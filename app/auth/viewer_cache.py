"""Recently resolved viewers, kept for a second, so a burst of requests with one token costs
one session lookup and one grants query instead of one each.

What may go stale is bounded: a user or role change committed in this process evicts the
entries it touches at once (before the mutation answers), one committed elsewhere when the
broker delivers its event, and what has no event - a session reaching its expiry, or an
event lost while Redis was away - lasts at most ``ttl`` seconds, as websocket re-checks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from app.auth.viewer import Viewer
from app.events import ChangeKind, Event

MAX_ENTRIES = 10_000
USER_TOPIC, ROLE_TOPIC = "user:", "role:"


class ViewerCache:
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        """``clock``: seconds, monotonic (tests pass one they can move)."""
        self.ttl, self.clock = ttl, clock
        self._entries: dict[str, tuple[float, Viewer | None]] = {}
        #: Bumped by every clear(): a lookup that started before one must not be cached.
        self.generation = 0
        #: Lookups under way, by digest: requests arriving meanwhile wait for them.
        self.pending: dict[str, asyncio.Future[Viewer | None]] = {}

    def get(self, digest: str) -> tuple[bool, Viewer | None, bool]:
        """(found, viewer, due): a cached None means the token was refused; ``due`` that the
        entry is past half its life, so a lookup should refresh it before it expires - under
        steady traffic no request then waits for one."""
        entry = self._entries.get(digest)
        if entry is None:
            return False, None, False
        remaining = entry[0] - self.clock()
        if remaining < 0:
            del self._entries[digest]
            return False, None, False
        return True, entry[1], remaining < self.ttl / 2

    def put(self, digest: str, viewer: Viewer | None, generation: int) -> None:
        if self.ttl <= 0 or generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[digest] = (self.clock() + self.ttl, viewer)

    def clear(self) -> None:
        self.forget(lambda digest, viewer: True)

    def forget(self, drop: Callable[[str, Viewer | None], bool]) -> None:
        """Drop the entries ``drop`` picks, and keep no lookup already under way: it may have
        read the state from before the change."""
        for digest, (_, viewer) in list(self._entries.items()):
            if drop(digest, viewer):
                del self._entries[digest]
        self.pending.clear()
        self.generation += 1

    def forget_user(self, user_hex: str) -> None:
        """One user's viewers (a login, a lock or a role assignment touches only them)."""
        self.forget(
            lambda _, viewer: (
                viewer is not None and viewer.user_id is not None and viewer.user_id.hex == user_hex
            )
        )

    def on_events(self, events: list[Event]) -> None:
        for event in events:
            if event.kind is ChangeKind.RESYNC or event.topic.startswith(ROLE_TOPIC):
                self.clear()  # a role's scopes reach every user holding it
            elif event.topic.startswith(USER_TOPIC):
                self.forget_user(event.subject)
