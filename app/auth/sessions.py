"""Login sessions: opaque tokens mapped to a user, with sliding expiry and durable revocation.

Sessions live in the database (PostgreSQL or SQLite), not in Redis: whatever Redis goes through
- down, hung, restarted empty or restored from an older snapshot - a logged-out token stays
logged out and a signed-in user stays signed in. Only a SHA-256 of each token is stored, so a
dump of the table hands nobody a usable token.

A session ends after ``idle`` seconds without use, and in any case ``lifetime`` seconds after
login. Looking one up is one statement that also reads the user's grants (the viewer cache in
app.auth.viewer_cache keeps the answer for a second); using it renews ``last_used_at`` at most
every ``touch_every`` seconds, so reads do not turn into a write each.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.users import Grants
from app.db.database import Database
from app.db.models import LoginSession, Role, User, user_roles
from app.db.transactions import writing
from app.events import record, user_changed

TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionRecord:
    digest: str
    user_id: uuid.UUID
    created_at: float
    expires_at: float


def _expiry(idle: float, lifetime: float, created_at: float, used_at: float) -> float:
    return min(used_at + idle, created_at + lifetime)


class SessionStore:
    def __init__(
        self, db: Database, *, idle: int, lifetime: int, clock: Callable[[], float] = time.time
    ) -> None:
        """``clock``: seconds since the epoch (tests pass one they can move)."""
        self.db, self.idle, self.lifetime, self.clock = db, idle, lifetime, clock
        self.touch_every = min(60.0, idle / 10)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _expired(self, now: datetime) -> ColumnElement[bool]:
        """The condition of sessions past their idle time or their lifetime."""
        return or_(
            LoginSession.last_used_at < now - timedelta(seconds=self.idle),
            LoginSession.created_at < now - timedelta(seconds=self.lifetime),
        )

    async def create(self, user_id: uuid.UUID) -> tuple[str, SessionRecord]:
        """Start a session; the token is returned once and never stored. The user's expired
        sessions go at the same time, so the table holds live sessions and a few more."""
        token, now = new_token(), self._now()
        digest = token_digest(token)
        async with self.db.session() as session, writing(session):
            await session.execute(
                delete(LoginSession).where(LoginSession.user_id == user_id, self._expired(now))
            )
            session.add(
                LoginSession(digest=digest, user_id=user_id, created_at=now, last_used_at=now)
            )
        stamp = now.timestamp()
        return token, SessionRecord(
            digest, user_id, stamp, _expiry(self.idle, self.lifetime, stamp, stamp)
        )

    def _session(self, background: bool) -> AsyncSession:
        """Long-lived connections (websockets, event streams) re-check on the background
        pool: ten thousand subscribers never hold a connection a request is waiting for."""
        return self.db.background() if background else self.db.session()

    async def find(
        self, token: str, *, background: bool = False
    ) -> tuple[SessionRecord, Grants] | None:
        """The live session for ``token`` with its user's grants, renewing its idle expiry."""
        digest, now = token_digest(token), self.clock()
        async with self._session(background) as session:
            rows = (
                await session.execute(
                    select(
                        LoginSession.created_at,
                        LoginSession.last_used_at,
                        User.id,
                        User.username,
                        User.is_locked,
                        Role.scopes,
                    )
                    .join(User, User.id == LoginSession.user_id)
                    .outerjoin(user_roles, user_roles.c.user_id == User.id)
                    .outerjoin(Role, Role.id == user_roles.c.role_id)
                    .where(LoginSession.digest == digest)
                )
            ).all()
            await session.rollback()  # end the read before a possible write
        if not rows:
            return None
        first = rows[0]
        created, used = first.created_at.timestamp(), first.last_used_at.timestamp()
        if _expiry(self.idle, self.lifetime, created, used) <= now:
            await self._forget(digest, background)
            return None
        if now - used >= self.touch_every:
            await self._touch(digest, background)
            used = now
        grants = Grants(
            first.id,
            first.username,
            first.is_locked,
            frozenset(scope for row in rows for scope in (row.scopes or ())),
        )
        record = SessionRecord(
            digest, first.id, created, _expiry(self.idle, self.lifetime, created, used)
        )
        return record, grants

    async def _touch(self, digest: str, background: bool = False) -> None:
        async with self._session(background) as session, writing(session):
            await session.execute(
                update(LoginSession)
                .where(LoginSession.digest == digest)
                .values(last_used_at=self._now())
            )

    async def _forget(self, digest: str, background: bool = False) -> int:
        async with self._session(background) as session, writing(session):
            result = await session.execute(
                delete(LoginSession).where(LoginSession.digest == digest)
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def revoke(self, token: str) -> uuid.UUID | None:
        """End one session; the user it belonged to, or None if there was none."""
        digest = token_digest(token)
        async with self.db.session() as session, writing(session):
            user_id = await session.scalar(
                delete(LoginSession)
                .where(LoginSession.digest == digest)
                .returning(LoginSession.user_id)
            )
            if user_id is not None:
                record(session, user_changed(user_id))  # other processes drop cached viewers
        return user_id

    async def revoke_all(self, user_id: uuid.UUID) -> int:
        async with self.db.session() as session, writing(session):
            result = await session.execute(
                delete(LoginSession).where(LoginSession.user_id == user_id)
            )
            record(session, user_changed(user_id))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def purge_expired(self) -> int:
        """Remove every expired session (``contentgraph gc``)."""
        async with self.db.session() as session, writing(session):
            result = await session.execute(delete(LoginSession).where(self._expired(self._now())))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
