"""Session stores and attempt counters, in-process and on Redis, against the same tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from app.kv.attempts import AttemptCounter, MemoryAttemptCounter, RedisAttemptCounter
from app.kv.sessions import MemorySessionStore, RedisSessionStore, SessionStore, token_digest
from tests.backends import REDIS_URL, unavailable


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


@pytest.fixture(params=["memory", "redis"])
async def make_store(
    request: pytest.FixtureRequest, redis: Redis, prefix: str
) -> Callable[..., SessionStore]:
    def make(idle: int = 60, lifetime: int = 3600) -> SessionStore:
        if request.param == "memory":
            return MemorySessionStore(idle=idle, lifetime=lifetime)
        return RedisSessionStore(redis, prefix, idle=idle, lifetime=lifetime)

    return make


@pytest.fixture(params=["memory", "redis"])
async def counter(request: pytest.FixtureRequest, redis: Redis, prefix: str) -> AttemptCounter:
    if request.param == "memory":
        return MemoryAttemptCounter(window=2)
    return RedisAttemptCounter(redis, prefix, window=2)


async def test_token_opens_its_session_and_only_a_digest_is_kept(
    make_store: Callable[..., SessionStore],
) -> None:
    store = make_store()
    user = uuid.uuid4()
    token, record = await store.create(user)
    assert len(token) >= 43  # 32 random bytes
    assert record.digest == token_digest(token) != token
    found = await store.get(token)
    assert found is not None and found.user_id == user
    assert await store.get(token + "x") is None


async def test_redis_never_sees_the_token(redis: Redis, prefix: str) -> None:
    store = RedisSessionStore(redis, prefix, idle=60, lifetime=3600)
    token, _ = await store.create(uuid.uuid4())
    keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
    assert len(keys) == 2  # the session and the user's index
    for key in keys:
        assert token.encode() not in key
        value = await redis.get(key) if await redis.type(key) == b"string" else b""
        assert token.encode() not in (value or b"")


async def test_idle_sessions_expire_and_use_renews_them(
    make_store: Callable[..., SessionStore],
) -> None:
    store = make_store(idle=2, lifetime=60)
    token, _ = await store.create(uuid.uuid4())
    for _ in range(3):  # used every second: stays alive past the 2 s idle limit
        await asyncio.sleep(1.0)
        assert await store.get(token) is not None
    await asyncio.sleep(2.2)
    assert await store.get(token) is None


async def test_sessions_end_at_their_lifetime_even_when_used(
    make_store: Callable[..., SessionStore],
) -> None:
    store = make_store(idle=60, lifetime=2)
    token, record = await store.create(uuid.uuid4())
    assert record.expires_at <= time.time() + 2
    await asyncio.sleep(1.0)
    assert await store.get(token) is not None
    await asyncio.sleep(1.3)
    assert await store.get(token) is None


async def test_revoke_one_and_revoke_all(make_store: Callable[..., SessionStore]) -> None:
    store = make_store()
    alice, bob = uuid.uuid4(), uuid.uuid4()
    a1, _ = await store.create(alice)
    a2, _ = await store.create(alice)
    b1, _ = await store.create(bob)
    assert await store.revoke(a1) is True
    assert await store.revoke(a1) is False
    assert await store.get(a1) is None
    assert await store.get(a2) is not None
    a3, _ = await store.create(alice)
    assert await store.revoke_all(alice) == 2
    assert await store.get(a2) is None and await store.get(a3) is None
    assert await store.get(b1) is not None
    assert await store.revoke_all(alice) == 0


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
