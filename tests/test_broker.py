"""The broker, on the in-process log and on a real Redis Stream: fan-out by topic and family,
slow consumers dropped without hurting the others and without losing anything, resuming
after an event id (from memory, from the log, and beyond the retention), and a real Redis
outage followed by recovery that loses nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.events import ChangeKind, Event
from app.events.broker import Broker, SlowConsumer, Subscription
from app.events.log import EventLog, MemoryEventLog
from app.events.redis_log import RedisEventLog
from app.kv.connection import client
from tests.backends import REDIS_URL, unavailable
from tests.redis_server import DisposableRedis


def event(id: int, topic: str = "contact:ab", kind: ChangeKind = ChangeKind.UPDATED) -> Event:
    return Event(topic, kind, topic.split(":")[1], id=id)


async def received(subscription: Subscription, count: int) -> list[Event]:
    return [await asyncio.wait_for(subscription.next(), 5) for _ in range(count)]


@pytest.fixture(params=["memory", "redis"])
async def log(request: pytest.FixtureRequest) -> AsyncIterator[EventLog]:
    if request.param == "memory":
        yield MemoryEventLog(capacity=1000)
        return
    redis = client(REDIS_URL)
    try:
        await redis.ping()
    except Exception as exc:
        unavailable(f"Redis is not reachable at {REDIS_URL}: {exc}")
    prefix = f"cgtest-log-{uuid.uuid4().hex[:8]}"
    yield RedisEventLog(redis, prefix)
    await redis.delete(f"{prefix}:events", f"{prefix}:events:floor")
    await redis.aclose()


@pytest.fixture
async def broker(log: EventLog) -> AsyncIterator[Broker]:
    broker = Broker(log, queue_size=8, recent=16)
    await broker.start()
    yield broker
    await broker.close()


async def test_events_reach_their_topics_and_families_in_order(
    broker: Broker, log: EventLog
) -> None:
    one = await broker.subscribe(["contact:ab"])
    other = await broker.subscribe(["contact:cd"])
    every_contact = await broker.subscribe(families=["contact"])
    await log.append([event(1), event(2, "contact:cd"), event(3)])
    assert [e.id for e in await received(one, 2)] == [1, 3]
    assert [e.id for e in await received(every_contact, 3)] == [1, 2, 3]
    assert [e.id for e in await received(other, 1)] == [2]
    for subscription in (one, other, every_contact):
        subscription.close()
    assert broker.subscriber_count == 0


async def test_appending_twice_keeps_one_copy_in_order(log: EventLog) -> None:
    """Relays in several processes may append the same events: the log stays a sequence."""
    await log.append([event(1), event(2)])
    await log.append([event(1), event(2), event(3)])
    await log.append([event(2)])
    assert [e.id for e in await log.read(0, 100)] == [1, 2, 3]
    assert await log.top() == 3


async def test_a_slow_subscriber_is_dropped_then_resumes_without_a_gap(
    broker: Broker, log: EventLog
) -> None:
    slow, fast = await broker.subscribe(["contact:ab"]), await broker.subscribe(["contact:ab"])
    first = await received(slow, 0)
    assert first == []
    for n in range(1, 21):
        await log.append([event(n)])
        assert (await asyncio.wait_for(fast.next(), 5)).id == n  # the fast one keeps up
    got: list[int] = []
    with pytest.raises(SlowConsumer) as dropped:
        while True:
            got.append((await asyncio.wait_for(slow.next(), 5)).id)
    assert broker.subscriber_count == 1
    resumed = await broker.subscribe(["contact:ab"], after=dropped.value.last_id)
    got += [e.id for e in await received(resumed, 20 - len(got))]
    assert got == list(range(1, 21))  # each exactly once, in order


async def test_resuming_replays_from_memory_then_from_the_log(
    broker: Broker, log: EventLog
) -> None:
    await log.append([event(n, "contact:ab" if n % 2 else "contact:cd") for n in range(1, 41)])
    for _ in range(100):
        if broker.position == 40:
            break
        await asyncio.sleep(0.02)
    recent = await broker.subscribe(["contact:ab"], after=35)  # the last 16 are in memory
    assert [e.id for e in await received(recent, 2)] == [37, 39]
    older = await broker.subscribe(["contact:ab"], after=4)  # before them: read from the log
    assert [e.id for e in await received(older, 18)] == list(range(5, 41, 2))
    await log.append([event(41)])
    assert (await received(older, 1))[0].id == 41  # then live, without a duplicate
    assert (await received(recent, 1))[0].id == 41


async def test_resuming_from_beyond_the_retention_gets_resync(
    broker: Broker, log: EventLog
) -> None:
    await log.append([event(n) for n in range(1, 41)])
    await log.trim(30)
    for _ in range(100):
        if broker.position == 40:
            break
        await asyncio.sleep(0.02)
    gone = await broker.subscribe(["contact:ab"], after=10)
    resync = await asyncio.wait_for(gone.next(), 5)
    assert (resync.kind, resync.id) == (ChangeKind.RESYNC, 40)  # refetch, then resume at 40
    kept = await broker.subscribe(["contact:ab"], after=29)
    assert [e.id for e in await received(kept, 11)] == list(range(30, 41))
    await log.append([event(41)])
    assert (await received(gone, 1))[0].id == 41


async def test_two_brokers_share_one_redis_stream(redis: Redis) -> None:
    prefix = f"cgtest-log-{uuid.uuid4().hex[:8]}"
    writer_log, reader_log = RedisEventLog(redis, prefix), RedisEventLog(redis, prefix)
    reader = Broker(reader_log)
    await reader.start()
    try:
        subscription = await reader.subscribe(["album:ef"])
        await writer_log.append([Event("album:ef", ChangeKind.PHOTOS_ADDED, "ef", ("01",), 1)])
        got = await asyncio.wait_for(subscription.next(), 5)
        assert (got.id, got.kind, got.photo_ids) == (1, ChangeKind.PHOTOS_ADDED, ("01",))
    finally:
        await reader.close()
        await redis.delete(f"{prefix}:events", f"{prefix}:events:floor")


async def test_a_redis_outage_loses_no_event(disposable_redis: DisposableRedis) -> None:
    """Events appended while this process's loop was cut off from Redis arrive when it
    reconnects, in order, with no RESYNC: the stream kept them."""
    redis = client(disposable_redis.url)
    log = RedisEventLog(redis, "cgtest-outage")
    broker = Broker(log)
    await broker.start()
    try:
        subscription = await broker.subscribe(["contact:ab"])
        await log.append([event(1)])
        assert (await asyncio.wait_for(subscription.next(), 5)).id == 1
        disposable_redis.hang()
        for _ in range(100):
            if not broker.running.is_set():
                break
            await asyncio.sleep(0.1)
        disposable_redis.resume()
        other = client(disposable_redis.url)
        await RedisEventLog(other, "cgtest-outage").append([event(2), event(3)])
        await other.aclose()
        got = await received(subscription, 2)
        assert [(e.kind, e.id) for e in got] == [(ChangeKind.UPDATED, 2), (ChangeKind.UPDATED, 3)]
    finally:
        await broker.close()
        await redis.aclose()
