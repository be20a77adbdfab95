"""Who is asking: the signed-in user and their scopes, or an anonymous caller."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: uuid.UUID | None
    username: str | None
    scopes: frozenset[str]
    session_digest: str | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    def can(self, scope: str) -> bool:
        return scope in self.scopes

    @classmethod
    def anonymous(cls, scopes: frozenset[str] = frozenset()) -> Viewer:
        return cls(user_id=None, username=None, scopes=scopes)
