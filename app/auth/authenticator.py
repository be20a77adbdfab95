"""Logging in and out, and turning a presented token into a Viewer.

A token only names a session; the user's scopes are read from the database (one statement)
and kept for at most a second (app.auth.viewer_cache): a role change, a lock or a deleted user
takes effect on the next request in the process that made it, and within that second anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import users
from app.auth.passwords import Passwords
from app.auth.scopes import ANONYMOUS_READ_SCOPES, with_implied
from app.auth.sessions import SessionStore, token_digest
from app.auth.viewer import Viewer
from app.auth.viewer_cache import ViewerCache
from app.config import Settings
from app.db.database import Database
from app.db.models import User
from app.db.transactions import writing
from app.events import record, user_changed
from app.kv.attempts import AttemptCounter, Tally

logger = logging.getLogger("contentgraph.auth")


def normalise_username(username: str) -> str:
    """One spelling per account, for lookups and rate-limit keys alike."""
    return unicodedata.normalize("NFC", username).strip().lower()


def _forget(
    pending: dict[str, asyncio.Future[Viewer | None]],
    digest: str,
    done: asyncio.Future[Viewer | None],
) -> None:
    if pending.get(digest) is done:
        del pending[digest]
    if not done.cancelled() and done.exception() is not None:
        # A background refresh has no waiter: its failure is logged, the next request retries.
        logger.warning("could not look up a session: %s", done.exception())


class LoginRefused(Exception):
    """Why a login did not succeed; ``code`` is stable, the message safe to show."""

    def __init__(self, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code, self.retry_after = code, retry_after


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str
    user: User
    expires_at: datetime


class Authenticator:
    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        sessions: SessionStore,
        attempts: AttemptCounter,
        passwords: Passwords,
    ) -> None:
        self.db, self.settings = db, settings
        self.sessions, self.attempts, self.passwords = sessions, attempts, passwords
        self.viewers = ViewerCache(settings.viewer_cache_seconds)
        self.anonymous = Viewer.anonymous(
            ANONYMOUS_READ_SCOPES if settings.allows_anonymous_read else frozenset()
        )

    async def login(self, username: str, password: str, address: str) -> LoginResult:
        """Every attempt is counted *before* the password is checked (and forgiven after a
        success), so concurrent guesses cannot all slip in under the limit.

        Failures count per username *from one address* (a guesser there is stopped after a
        few), per address (one guesser, many usernames) and per username from everywhere with
        a much higher bar - so nobody can lock an owner out from one address by failing on
        purpose, yet a distributed guess at one account still meets a limit.
        """
        name = normalise_username(username)
        pair_key, user_key = f"user:{name}|address:{address}", f"user:{name}"
        address_key = f"address:{address}"
        settings = self.settings
        for key, limit in (
            (pair_key, settings.login_max_failures_per_user),
            (address_key, settings.login_max_failures_per_address),
            (user_key, settings.login_max_failures_per_username),
        ):
            self._refuse_if_limited(await self.attempts.fail(key), limit)
        invalid = LoginRefused("INVALID_CREDENTIALS", "wrong username or password")
        if "\x00" in name or "\x00" in password:
            raise invalid  # no user can have these, and PostgreSQL refuses NUL in text
        async with self.db.session() as session:
            async with session.begin():
                user = await session.scalar(select(User).where(func.lower(User.username) == name))
            matches, needs_rehash = await asyncio.to_thread(
                self.passwords.verify, user.password_hash if user else None, password
            )
            if user is None or not matches:
                logger.info("login failed for a username from %s", address)
                raise invalid
            if user.is_locked:
                raise LoginRefused("ACCOUNT_LOCKED", "this account is locked")
            await self.attempts.reset(pair_key)
            await self.attempts.forgive(address_key)
            await self.attempts.forgive(user_key)
            new_hash = (
                await asyncio.to_thread(self.passwords.hash, password) if needs_rehash else None
            )
            async with writing(session):
                fresh = await session.get(User, user.id, with_for_update=True)
                if fresh is None:
                    raise LoginRefused("INVALID_CREDENTIALS", "wrong username or password")
                fresh.last_login_at = datetime.now(UTC)
                record(session, user_changed(fresh.id))
                if new_hash is not None:
                    fresh.password_hash = new_hash
        token, opened = await self.sessions.create(user.id)
        logger.info("user %s logged in", user.id)
        return LoginResult(token, fresh, datetime.fromtimestamp(opened.expires_at, UTC))

    @staticmethod
    def _refuse_if_limited(tally: Tally, limit: int) -> None:
        if tally.failures > limit:
            raise LoginRefused(
                "TOO_MANY_ATTEMPTS",
                f"too many failed logins; try again in {tally.retry_after} seconds",
                retry_after=tally.retry_after,
            )

    async def check_password(self, user_id: uuid.UUID, password: str) -> None:
        """For changing a password: the current one must match (and counts as an attempt)."""
        key = f"user-id:{user_id}"
        self._refuse_if_limited(
            await self.attempts.fail(key), self.settings.login_max_failures_per_user
        )
        async with self.db.session() as session, session.begin():
            stored = await session.scalar(select(User.password_hash).where(User.id == user_id))
        matches, _ = await asyncio.to_thread(self.passwords.verify, stored, password)
        if not matches:
            raise LoginRefused("INVALID_CREDENTIALS", "the current password is wrong")
        await self.attempts.reset(key)

    async def change_password(
        self, session: AsyncSession, user_id: uuid.UUID, current: str, new: str
    ) -> tuple[str, User]:
        """Your own password: the current one checked (and counted, as a login would be), the
        new one set - every session of the user ends in its transaction - and a new session
        opened for the caller, the only one left. Raises LoginRefused, ValidationFailed."""
        await self.check_password(user_id, current)
        user = await users.set_password(session, self.passwords, user_id, new)
        token, _ = await self.sessions.create(user_id)
        return token, user

    async def logout(self, token: str) -> bool:
        digest = token_digest(token)
        self.viewers.forget(lambda cached, _: cached == digest)
        return await self.sessions.revoke(token) is not None

    async def logout_everywhere(self, user_id: uuid.UUID) -> int:
        self.viewers.forget_user(user_id.hex)
        return await self.sessions.revoke_all(user_id)

    async def viewer(
        self, token: str | None, *, fresh: bool = False, background: bool = False
    ) -> Viewer | None:
        """The Viewer for a token; the anonymous viewer without one; None for a bad token.

        Served from the viewer cache (see app.auth.viewer_cache) unless ``fresh``; a lookup
        for a long-lived connection (``background``) uses the background database pool.
        """
        if not token:
            return self.anonymous
        if fresh:
            return await self._look_up(token, background)
        digest = token_digest(token)
        found, cached, due = self.viewers.get(digest)
        if found:
            if due:
                self._looking_up(token, digest, background)  # in the background
            return cached
        return await asyncio.shield(self._looking_up(token, digest, background))

    def _looking_up(
        self, token: str, digest: str, background: bool = False
    ) -> asyncio.Future[Viewer | None]:
        """One lookup per token at a time: requests arriving meanwhile wait for it instead of
        each querying Redis and SQL."""
        pending = self.viewers.pending.get(digest)
        if pending is None:
            generation = self.viewers.generation  # taken now, before the lookup starts
            pending = asyncio.ensure_future(
                self._look_up_and_keep(token, digest, generation, background)
            )
            self.viewers.pending[digest] = pending
            pending.add_done_callback(lambda done: _forget(self.viewers.pending, digest, done))
        return pending

    async def _look_up_and_keep(
        self, token: str, digest: str, generation: int, background: bool
    ) -> Viewer | None:
        viewer = await self._look_up(token, background)
        self.viewers.put(digest, viewer, generation)
        return viewer

    async def _look_up(self, token: str, background: bool = False) -> Viewer | None:
        found = await self.sessions.find(token, background=background)
        if found is None:
            return None
        opened, grants = found
        if grants.is_locked:
            return None
        return Viewer(grants.user_id, grants.username, with_implied(grants.scopes), opened.digest)
