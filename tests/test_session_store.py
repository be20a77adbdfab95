"""Sessions (in the database, both backends) and attempt counters (in process and on Redis)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update
from starlette.applications import Starlette

from app.auth.sessions import SessionStore, token_digest
from app.config import Settings
from app.db.models import LoginSession
from app.kv.attempts import AttemptCounter, MemoryAttemptCounter, RedisAttemptCounter
from app.kv.breaker import Breaker
from tests.backends import REDIS_URL, unavailable
from tests.conftest import cli_env, run_cli, user_token
from tests.timing import Clock


@pytest.fixture
def prefix() -> str:
    return f"cgtest-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis(prefix: str) -> AsyncIterator[Redis]:
    """A real Redis; this test's keys (under its own prefix) are removed afterwards."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        unavailable(f"Redis is not reachable at {REDIS_URL}: {exc}")
    yield client
    keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def make_store(app: Starlette) -> Callable[..., SessionStore]:
    def make(idle: int = 60, lifetime: int = 3600, clock: Clock | None = None) -> SessionStore:
        return SessionStore(app.state.db, idle=idle, lifetime=lifetime, clock=clock or time.time)

    return make


async def new_user(app: Starlette) -> uuid.UUID:
    """A real user row (sessions reference it)."""
    await user_token(app, f"u{uuid.uuid4().hex[:10]}")
    async with app.state.db.session() as session:
        found: uuid.UUID | None = await session.scalar(
            select(LoginSession.user_id).order_by(LoginSession.created_at.desc()).limit(1)
        )
    assert found is not None
    return found


@pytest.fixture(params=["memory", "redis"])
async def counter(request: pytest.FixtureRequest, redis: Redis, prefix: str) -> AttemptCounter:
    if request.param == "memory":
        return MemoryAttemptCounter(window=2)
    return RedisAttemptCounter(redis, prefix, window=2, breaker=Breaker(0.5, redis.ping))


async def test_token_opens_its_session_and_only_a_digest_is_kept(
    app: Starlette, make_store: Callable[..., SessionStore]
) -> None:
    store = make_store()
    user = await new_user(app)
    token, record = await store.create(user)
    assert len(token) >= 43  # 32 random bytes
    assert record.digest == token_digest(token) != token
    found = await store.find(token)
    assert found is not None and found[0].user_id == user == found[1].user_id
    assert await store.find(token + "x") is None
    async with app.state.db.session() as session:
        digests = set(await session.scalars(select(LoginSession.digest)))
    assert record.digest in digests and token not in digests


async def test_idle_sessions_expire_and_use_renews_them(
    app: Starlette, make_store: Callable[..., SessionStore]
) -> None:
    clock = Clock(time.time)  # sessions expire by the epoch clock
    store = make_store(idle=2, lifetime=60, clock=clock)
    token, _ = await store.create(await new_user(app))
    for _ in range(3):  # used every second: stays alive past the 2 s idle limit
        clock.advance(1.0)
        assert await store.find(token) is not None
    clock.advance(2.2)
    assert await store.find(token) is None


async def test_sessions_end_at_their_lifetime_even_when_used(
    app: Starlette, make_store: Callable[..., SessionStore]
) -> None:
    clock = Clock(time.time)  # sessions expire by the epoch clock
    store = make_store(idle=60, lifetime=2, clock=clock)
    token, record = await store.create(await new_user(app))
    assert record.expires_at == pytest.approx(clock() + 2, abs=0.001)
    clock.advance(1.0)
    assert await store.find(token) is not None
    clock.advance(1.3)
    assert await store.find(token) is None


async def test_revoke_one_and_revoke_all(
    app: Starlette, make_store: Callable[..., SessionStore]
) -> None:
    store = make_store()
    alice, bob = await new_user(app), await new_user(app)
    a1, _ = await store.create(alice)
    a2, _ = await store.create(alice)
    b1, _ = await store.create(bob)
    assert await store.revoke(a1) == alice
    assert await store.revoke(a1) is None
    assert await store.find(a1) is None
    assert await store.find(a2) is not None
    a3, _ = await store.create(alice)
    assert await store.revoke_all(alice) == 3  # a2, a3 and new_user's own
    assert await store.find(a2) is None and await store.find(a3) is None
    assert await store.find(b1) is not None
    assert await store.revoke_all(alice) == 0


async def test_gc_purges_expired_sessions(
    app: Starlette,
    make_store: Callable[..., SessionStore],
    backend_settings: Settings,
    live_env: dict[str, str],
) -> None:
    store = make_store()
    user = await new_user(app)
    old, record = await store.create(user)
    live, _ = await store.create(user)
    async with app.state.db.session() as session, session.begin():
        await session.execute(
            update(LoginSession)
            .where(LoginSession.digest == record.digest)
            .values(created_at=datetime.now(UTC) - timedelta(days=31))
        )
    result = run_cli(cli_env(backend_settings, live_env), "gc")
    assert "removed 1 expired sessions" in result.stdout, result.stdout + result.stderr
    assert await store.find(old) is None
    assert await store.find(live) is not None


async def test_attempts_count_within_a_window_then_reset(counter: AttemptCounter) -> None:
    assert (await counter.tally("k")).failures == 0
    for expected in (1, 2, 3):
        tally = await counter.fail("k")
        assert tally.failures == expected
        assert 1 <= tally.retry_after <= 2
    assert (await counter.tally("other")).failures == 0
    await asyncio.sleep(2.2)
    assert (await counter.tally("k")).failures == 0
    await counter.fail("k")
    await counter.reset("k")
    assert (await counter.tally("k")).failures == 0
