"""Login sessions: opaque tokens mapped to a user, with sliding expiry and revocation.

Only a SHA-256 of each token is stored, so a dump of Redis (or of this process) hands nobody a
usable token. A session ends after ``idle`` seconds without use, and in any case ``lifetime``
seconds after login. Each user has an index of their sessions so "log out everywhere" needs no
key scan.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

import orjson
from redis.asyncio import Redis

TOKEN_BYTES = 32
SWEEP_AT = 10_000


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


class SessionStore(Protocol):
    idle: int
    lifetime: int

    async def create(self, user_id: uuid.UUID) -> tuple[str, SessionRecord]:
        """Start a session; the token is returned once and never stored."""
        ...

    async def get(self, token: str) -> SessionRecord | None:
        """The live session for ``token``, its idle expiry pushed forward; None if none."""
        ...

    async def revoke(self, token: str) -> bool: ...

    async def revoke_all(self, user_id: uuid.UUID) -> int: ...


def _expiry(idle: int, lifetime: int, created_at: float, now: float) -> float:
    return min(now + idle, created_at + lifetime)


class MemorySessionStore:
    """The embedded default: sessions live as long as the process."""

    def __init__(self, *, idle: int, lifetime: int) -> None:
        self.idle, self.lifetime = idle, lifetime
        self._sessions: dict[str, SessionRecord] = {}
        self._by_user: dict[uuid.UUID, set[str]] = {}

    async def create(self, user_id: uuid.UUID) -> tuple[str, SessionRecord]:
        token, now = new_token(), time.time()
        if len(self._sessions) > SWEEP_AT:
            for expired in [r for r in self._sessions.values() if r.expires_at <= now]:
                self._forget(expired)
        record = SessionRecord(
            token_digest(token), user_id, now, _expiry(self.idle, self.lifetime, now, now)
        )
        self._sessions[record.digest] = record
        self._by_user.setdefault(user_id, set()).add(record.digest)
        return token, record

    async def get(self, token: str) -> SessionRecord | None:
        digest, now = token_digest(token), time.time()
        record = self._sessions.get(digest)
        if record is None:
            return None
        if record.expires_at <= now:
            self._forget(record)
            return None
        renewed = SessionRecord(
            digest,
            record.user_id,
            record.created_at,
            _expiry(self.idle, self.lifetime, record.created_at, now),
        )
        self._sessions[digest] = renewed
        return renewed

    def _forget(self, record: SessionRecord) -> None:
        self._sessions.pop(record.digest, None)
        self._by_user.get(record.user_id, set()).discard(record.digest)

    async def revoke(self, token: str) -> bool:
        record = self._sessions.get(token_digest(token))
        if record is None:
            return False
        self._forget(record)
        return True

    async def revoke_all(self, user_id: uuid.UUID) -> int:
        digests = self._by_user.pop(user_id, set())
        return sum(self._sessions.pop(d, None) is not None for d in digests)


class RedisSessionStore:
    """Sessions shared by every server process.

    ``<prefix>:session:<digest>`` holds the record with the idle TTL, renewed atomically with
    GETEX on each use; ``<prefix>:user-sessions:<user id>`` is the set of a user's digests,
    kept at least as long as the longest a session can live.
    """

    def __init__(self, redis: Redis, prefix: str, *, idle: int, lifetime: int) -> None:
        self.redis, self.prefix = redis, prefix
        self.idle, self.lifetime = idle, lifetime

    def _session_key(self, digest: str) -> str:
        return f"{self.prefix}:session:{digest}"

    def _user_key(self, user_id: uuid.UUID) -> str:
        return f"{self.prefix}:user-sessions:{user_id.hex}"

    async def create(self, user_id: uuid.UUID) -> tuple[str, SessionRecord]:
        token, now = new_token(), time.time()
        record = SessionRecord(
            token_digest(token), user_id, now, _expiry(self.idle, self.lifetime, now, now)
        )
        payload = orjson.dumps({"user_id": user_id.hex, "created_at": now})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._session_key(record.digest), payload, ex=self.idle)
            pipe.sadd(self._user_key(user_id), record.digest)
            pipe.expire(self._user_key(user_id), self.lifetime + self.idle)
            await pipe.execute()
        return token, record

    async def get(self, token: str) -> SessionRecord | None:
        digest, now = token_digest(token), time.time()
        raw = await self.redis.getex(self._session_key(digest), ex=self.idle)
        if raw is None:
            return None
        data = orjson.loads(raw)
        user_id, created_at = uuid.UUID(hex=data["user_id"]), float(data["created_at"])
        if created_at + self.lifetime <= now:
            await self._forget(digest, user_id)
            return None
        return SessionRecord(
            digest, user_id, created_at, _expiry(self.idle, self.lifetime, created_at, now)
        )

    async def _forget(self, digest: str, user_id: uuid.UUID) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._session_key(digest))
            pipe.srem(self._user_key(user_id), digest)
            await pipe.execute()

    async def revoke(self, token: str) -> bool:
        digest = token_digest(token)
        raw = await self.redis.getdel(self._session_key(digest))
        if raw is None:
            return False
        await self.redis.srem(self._user_key(uuid.UUID(hex=orjson.loads(raw)["user_id"])), digest)
        return True

    async def revoke_all(self, user_id: uuid.UUID) -> int:
        user_key = self._user_key(user_id)
        members = await self.redis.smembers(user_key)
        digests = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
        if not digests:
            return 0
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*(self._session_key(d) for d in digests))
            pipe.srem(user_key, *digests)
            deleted, _ = await pipe.execute()
        return int(deleted)
