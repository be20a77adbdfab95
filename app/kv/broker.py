"""The event broker: domain events to every subscriber, in this process or any other.

One Redis pub/sub connection per process (pattern-subscribed to every event channel), fanned out
in-process to each subscription's bounded queue. A subscriber that falls behind is dropped - it
never blocks the others or grows memory. After a Redis outage the listener reconnects with
backoff and tells every subscriber to refetch (RESYNC): pub/sub is at-most-once, so events may
have been lost while it was down. The embedded default fans out in-process only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import partial

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.events import ChangeKind, Event
from app.kv.breaker import Breaker, RedisUnavailable

logger = logging.getLogger("contentgraph.broker")

QUEUE_SIZE = 256


class SlowConsumer(Exception):
    """The subscriber did not keep up and was dropped."""


class Subscription:
    def __init__(self, broker: Broker, topics: frozenset[str], size: int) -> None:
        self.broker, self.topics = broker, topics
        self.queue: asyncio.Queue[Event] = asyncio.Queue(size)
        self.dropped = False

    def offer(self, event: Event) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped = True
            self.broker.unsubscribe(self)
            self.queue = asyncio.Queue(1)
            self.queue.put_nowait(event)  # wakes the reader, which then sees `dropped`

    async def next(self) -> Event:
        event = await self.queue.get()
        if self.dropped:
            raise SlowConsumer("dropped: the subscriber did not keep up with its events")
        return event

    def close(self) -> None:
        self.broker.unsubscribe(self)


class Broker:
    """In-process fan-out; the base of both backends."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._by_topic: dict[str, set[Subscription]] = defaultdict(set)
        #: Called with every event this process sees (its own and other processes').
        self.listeners: list[Callable[[list[Event]], None]] = []

    def subscribe(self, topics: Iterable[str]) -> Subscription:
        subscription = Subscription(self, frozenset(topics), self.queue_size)
        for topic in subscription.topics:
            self._by_topic[topic].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        for topic in subscription.topics:
            subscribers = self._by_topic.get(topic)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._by_topic[topic]

    @property
    def subscriber_count(self) -> int:
        return len({s for subscribers in self._by_topic.values() for s in subscribers})

    def dispatch(self, event: Event) -> None:
        for listener in self.listeners:
            listener([event])
        for subscription in list(self._by_topic.get(event.topic, ())):
            subscription.offer(event)

    def resync(self) -> None:
        for listener in self.listeners:
            listener([Event("", ChangeKind.RESYNC, "")])
        for topic, subscribers in list(self._by_topic.items()):
            for subscription in list(subscribers):
                subscription.offer(Event(topic, ChangeKind.RESYNC, ""))

    def emit(self, events: list[Event]) -> None:
        """Called right after a commit (synchronously): hand the events on."""
        for event in events:
            self.dispatch(event)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisBroker(Broker):
    def __init__(
        self, redis: Redis, prefix: str, breaker: Breaker, queue_size: int = QUEUE_SIZE
    ) -> None:
        super().__init__(queue_size)
        self.redis, self.breaker = redis, breaker
        # Events published while Redis did not answer are gone (pub/sub is at-most-once):
        # when it answers again, this process's subscribers are told to refetch.
        breaker.on_recovery.append(self.resync)
        self.channel_prefix = f"{prefix}:events:"
        self._outgoing: asyncio.Queue[Event] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.connected = asyncio.Event()

    def emit(self, events: list[Event]) -> None:
        self._ensure_started()
        assert self._outgoing is not None
        for event in events:
            try:
                self._outgoing.put_nowait(event)
            except asyncio.QueueFull:
                logger.error("event backlog full: dropping %s %s", event.kind, event.topic)

    def subscribe(self, topics: Iterable[str]) -> Subscription:
        self._ensure_started()
        return super().subscribe(topics)

    async def start(self) -> None:
        self._ensure_started()

    def _ensure_started(self) -> None:
        if self._tasks:
            return
        self._outgoing = asyncio.Queue(10_000)
        self._tasks = [
            asyncio.create_task(self._publish_forever(), name="broker-publisher"),
            asyncio.create_task(self._listen_forever(), name="broker-listener"),
        ]

    async def _publish_forever(self) -> None:
        assert self._outgoing is not None
        while True:
            event = await self._outgoing.get()
            channel, payload = self.channel_prefix + event.topic, event.encode()
            try:
                await self.breaker.call(partial(self.redis.publish, channel, payload))
            except RedisUnavailable:
                # At-most-once: subscribers get a RESYNC when Redis answers again.
                logger.info("event %s on %s dropped: Redis is unavailable", event.kind, event.topic)

    async def _listen_forever(self) -> None:
        delay, first = 0.1, True
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.psubscribe(self.channel_prefix + "*")
                    self.connected.set()
                    if self.breaker.is_open:
                        self.breaker.succeeded()  # its recovery tells subscribers to resync
                    elif not first:
                        logger.warning("event broker reconnected; subscribers told to resync")
                        self.resync()
                    first, delay = False, 0.1
                    # Polled with a timeout rather than `async for pubsub.listen()`: redis-py's
                    # blocking read can swallow a cancellation, and then close() would hang.
                    while not self._closing:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is not None and message.get("type") == "pmessage":
                            with contextlib.suppress(Exception):
                                self.dispatch(Event.decode(message["data"]))
                    return
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.connected.is_set():
                    logger.warning("event broker lost Redis (%s); reconnecting", exc)
                self.connected.clear()
                first = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=3)
        self._tasks = []
