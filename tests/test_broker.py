"""The broker: fan-out, slow consumers dropped without hurting others, and a real Redis
outage followed by recovery (subscribers stay open and are told to RESYNC)."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from app.events import ChangeKind, Event
from app.kv.breaker import Breaker
from app.kv.broker import Broker, RedisBroker, SlowConsumer
from app.kv.cache import RedisRowCache
from app.kv.connection import client
from tests.backends import REDIS_URL, unavailable
from tests.redis_server import DisposableRedis


def event(topic: str = "contact:ab", kind: ChangeKind = ChangeKind.UPDATED) -> Event:
    return Event(topic, kind, topic.split(":")[1])


async def test_events_reach_only_their_topics_subscribers() -> None:
    broker = Broker()
    one, two = broker.subscribe(["contact:ab"]), broker.subscribe(["contact:cd"])
    broker.emit([event("contact:ab")])
    assert (await asyncio.wait_for(one.next(), 1)).topic == "contact:ab"
    assert two.queue.empty()
    one.close()
    two.close()
    assert broker.subscriber_count == 0


async def test_a_slow_subscriber_is_dropped_and_the_others_keep_going() -> None:
    broker = Broker(queue_size=8)
    slow, fast = broker.subscribe(["contact:ab"]), broker.subscribe(["contact:ab"])
    for _ in range(20):
        broker.emit([event()])
        await fast.next()  # the fast one keeps up
    with pytest.raises(SlowConsumer):
        for _ in range(20):
            await slow.next()
    assert broker.subscriber_count == 1
    broker.emit([event()])
    assert (await asyncio.wait_for(fast.next(), 1)).kind is ChangeKind.UPDATED


async def test_redis_fan_out_between_two_brokers() -> None:
    publisher_redis, listener_redis = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    try:
        await publisher_redis.ping()
    except Exception as exc:
        unavailable(f"Redis is not reachable at {REDIS_URL}: {exc}")
    prefix = "cgtest-broker"
    publisher = RedisBroker(publisher_redis, prefix, Breaker(0.5, publisher_redis.ping))
    listener = RedisBroker(listener_redis, prefix, Breaker(0.5, listener_redis.ping))
    try:
        subscription = listener.subscribe(["album:ef"])
        await asyncio.wait_for(listener.connected.wait(), 5)
        await asyncio.sleep(0.1)
        publisher.emit([Event("album:ef", ChangeKind.PHOTOS_ADDED, "ef", ("01", "02"))])
        received = await asyncio.wait_for(subscription.next(), 5)
        assert (received.kind, received.photo_ids) == (ChangeKind.PHOTOS_ADDED, ("01", "02"))
    finally:
        await publisher.close()
        await listener.close()
        await publisher_redis.aclose()
        await listener_redis.aclose()


async def test_redis_outage_and_recovery(disposable_redis: DisposableRedis) -> None:
    redis = client(disposable_redis.url)
    breaker = Breaker(0.5, redis.ping)
    broker = RedisBroker(redis, "cgtest-outage", breaker)
    cache = RedisRowCache(redis, "cgtest-outage", ttl=60, breaker=breaker)
    try:
        subscription = broker.subscribe(["contact:ab"])
        await asyncio.wait_for(broker.connected.wait(), 5)
        await asyncio.sleep(0.1)
        broker.emit([event()])
        assert (await asyncio.wait_for(subscription.next(), 5)).kind is ChangeKind.UPDATED

        disposable_redis.stop()
        for _ in range(100):
            if not broker.connected.is_set():
                break
            await asyncio.sleep(0.05)
        assert not broker.connected.is_set()
        read = await cache.lookup("contact", ["ab"])  # reads still answer: all misses
        assert read.hits == {} and read.misses == ["ab"]

        disposable_redis.start()
        await asyncio.wait_for(broker.connected.wait(), 15)
        resync = await asyncio.wait_for(subscription.next(), 5)
        assert resync.kind is ChangeKind.RESYNC  # events may have been missed: refetch
        for _ in range(100):  # a call that failed just before the restart may trip it late
            if not breaker.is_open:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
        broker.emit([event()])
        received = await asyncio.wait_for(subscription.next(), 5)
        while received.kind is ChangeKind.RESYNC:  # at most once more, for that late trip
            received = await asyncio.wait_for(subscription.next(), 5)
        assert received.kind is ChangeKind.UPDATED
        assert broker.subscriber_count == 1  # the subscriber stayed open throughout
    finally:
        await broker.close()
        await redis.aclose()
