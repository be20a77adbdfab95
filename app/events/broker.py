"""The broker: events from the log to every subscriber in this process.

One loop per process reads the event log (app.events.log) after the last id it dispatched and
hands each event to the subscriptions following its topic (or its family, for list
subscriptions), each through a bounded queue. A subscriber that falls behind is dropped - it
never blocks the others or grows memory - and loses nothing: it resumes after the last event
it got. The broker keeps the recent events it dispatched, so resuming is usually answered from
memory; from further back it reads the log, and from beyond the log's retention the subscriber
gets RESYNC (refetch), as after anything that may have cost events (the log lost, the loop cut
off from Redis for longer than the retention).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

from app.events import ChangeKind, Event
from app.events.log import EventLog
from app.observability import metrics

logger = logging.getLogger("contentgraph.broker")

QUEUE_SIZE = 256
#: Recent events kept in memory for subscriptions that resume.
RECENT = 4096
WAIT_SECONDS = 1.0
#: Subscribers woken per turn of the event loop: waking ten thousand at once made everything
#: else in the process (a mutation's next step, a request) wait behind them (schema.pacing).
OFFER_SLICE = 64
#: How long the log may stay behind (being rebuilt) before it is taken to have restarted.
REBUILD_GRACE_SECONDS = 15.0


class SlowConsumer(Exception):
    """The subscriber did not keep up and was dropped."""

    def __init__(self, last_id: int) -> None:
        super().__init__("dropped: the subscriber did not keep up with its events")
        self.last_id = last_id


class Subscription:
    """One subscriber's events: a bounded run of them, and one waiter. (Not an asyncio.Queue:
    its three deques and an Event came to 3 KiB per idle subscriber.)"""

    __slots__ = (
        "_waiter",
        "backlog",
        "broker",
        "dropped",
        "families",
        "last_id",
        "live",
        "pending",
        "size",
        "topics",
    )

    def __init__(
        self, broker: Broker, topics: frozenset[str], families: frozenset[str], size: int
    ) -> None:
        self.broker, self.topics, self.families, self.size = broker, topics, families, size
        self.pending: collections.deque[Event] = collections.deque()
        #: Replayed events, delivered before the pending ones.
        self.backlog: collections.deque[Event] = collections.deque()
        #: The id of the last event delivered: nothing at or below it is delivered again.
        self.last_id = 0
        self.dropped = False
        #: Counted in the live subscriptions (until unsubscribed).
        self.live = False
        self._waiter: asyncio.Future[None] | None = None

    def follows(self, event: Event) -> bool:
        return event.topic in self.topics or event.family in self.families

    def offer(self, event: Event) -> bool:
        """Hand the event over; False when this subscriber did not take it (dropped)."""
        if self.dropped:
            return False
        taken = len(self.pending) < self.size
        if taken:
            self.pending.append(event)
        else:
            self.dropped = True  # the reader raises SlowConsumer at its next event
            self.broker.unsubscribe(self)
            self.pending.clear()
            metrics.events_dropped.labels(reason="slow_subscriber").inc()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return taken

    async def next(self) -> Event:
        while True:
            if self.backlog:
                event = self.backlog.popleft()
            else:
                while not self.pending and not self.dropped:
                    self._waiter = asyncio.get_running_loop().create_future()
                    try:
                        await self._waiter
                    finally:
                        self._waiter = None
                if self.dropped:
                    raise SlowConsumer(self.last_id)
                event = self.pending.popleft()
            if event.kind is ChangeKind.RESYNC:  # start over from its id
                self.last_id = event.id
                return event
            if event.id > self.last_id:
                self.last_id = event.id
                return event

    def close(self) -> None:
        self.broker.unsubscribe(self)


class Broker:
    def __init__(self, log: EventLog, queue_size: int = QUEUE_SIZE, recent: int = RECENT) -> None:
        self.log = log
        self.queue_size = queue_size
        self._by_topic: dict[str, set[Subscription]] = defaultdict(set)
        self._by_family: dict[str, set[Subscription]] = defaultdict(set)
        #: Called with every event this process sees (its own and other processes').
        self.listeners: list[Callable[[list[Event]], None]] = []
        #: The id of the last event dispatched here.
        self.position = 0
        self._recent: collections.deque[Event] = collections.deque(maxlen=recent)
        #: Every event above this id that reached the log is in ``_recent``.
        self._recent_floor = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.running = asyncio.Event()

    # -- subscribers ---------------------------------------------------------------------------

    async def subscribe(
        self,
        topics: Iterable[str] = (),
        *,
        families: Iterable[str] = (),
        after: int | None = None,
    ) -> Subscription:
        """Follow topics (or whole families) from now on - or, given ``after``, from the
        event after that id: the missed ones first, in order, then the live ones."""
        subscription = Subscription(self, frozenset(topics), frozenset(families), self.queue_size)
        for topic in subscription.topics:
            self._by_topic[topic].add(subscription)
        for family in subscription.families:
            self._by_family[family].add(subscription)
        subscription.live = True
        metrics.subscriptions.inc()
        subscription.last_id = await self._now() if after is None else after
        if after is not None and after > self.position and after > await self.log.top():
            # Not an id of this log (the database was replaced since): start over.
            subscription.backlog.append(Event("", ChangeKind.RESYNC, "", id=self.position))
        elif after is not None and after < self.position:
            try:
                await self._replay(subscription, after)
            except Exception as exc:  # the log is unreachable: refetching is always correct
                logger.warning("could not replay events after %d (%s): resync", after, exc)
                subscription.backlog.append(Event("", ChangeKind.RESYNC, "", id=self.position))
        return subscription

    async def _now(self) -> int:
        """The id of the last event in the log: what a new subscription starts after - events
        committed before it was opened may not have reached this process's loop yet."""
        try:
            return max(self.position, await self.log.top())
        except Exception:  # the log is unreachable: what this process has seen
            return self.position

    async def _replay(self, subscription: Subscription, after: int) -> None:
        if after >= self._recent_floor:  # in memory: no await, so nothing can slip between
            subscription.backlog.extend(
                e for e in self._recent if e.id > after and subscription.follows(e)
            )
            return
        # Further back: from the log. Live events arriving meanwhile queue up; the ids skip
        # what both deliver.
        until = self.position
        replayed: list[Event] = []
        cursor = after
        while cursor < until:
            batch = await self.log.read(cursor, 1000)
            if not batch:
                break
            replayed += (e for e in batch if e.id <= until and subscription.follows(e))
            cursor = batch[-1].id
        if await self.log.floor() > after:  # some of the missed events are gone
            subscription.backlog.append(Event("", ChangeKind.RESYNC, "", id=until))
            return
        subscription.backlog.extend(replayed)

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription.live:
            subscription.live = False
            metrics.subscriptions.dec()
        for index, keys in (
            (self._by_topic, subscription.topics),
            (self._by_family, subscription.families),
        ):
            for key in keys:
                subscribers = index.get(key)
                if subscribers is not None:
                    subscribers.discard(subscription)
                    if not subscribers:
                        del index[key]

    def _everyone(self) -> set[Subscription]:
        everyone: set[Subscription] = set()
        for index in (self._by_topic, self._by_family):
            for subscribers in index.values():
                everyone |= subscribers
        return everyone

    @property
    def subscriber_count(self) -> int:
        return len(self._everyone())

    # -- the loop ------------------------------------------------------------------------------

    async def dispatch(self, event: Event) -> None:
        if event.id:
            self.position = max(self.position, event.id)
            metrics.event_position.set(self.position)
            if len(self._recent) == self._recent.maxlen:
                self._recent_floor = self._recent[0].id
            self._recent.append(event)
        for listener in self.listeners:
            listener([event])
        following = [*self._by_topic.get(event.topic, ()), *self._by_family.get(event.family, ())]
        for start in range(0, len(following), OFFER_SLICE):
            if start:
                await asyncio.sleep(0)  # the next turn: what became ready meanwhile runs first
            delivered = 0
            for subscription in following[start : start + OFFER_SLICE]:
                delivered += subscription.offer(event)
            metrics.events_delivered.inc(delivered)  # once a slice: not once a subscriber

    def resync(self) -> None:
        """Events may have been lost: everyone refetches, and resumes after ``position``."""
        self._recent.clear()
        self._recent_floor = self.position
        event = Event("", ChangeKind.RESYNC, "", id=self.position)
        for listener in self.listeners:
            listener([event])
        for subscription in self._everyone():
            subscription.offer(event)

    async def start(self) -> None:
        if self._task is None:
            self.position = self._recent_floor = await self.log.top()
            self._task = asyncio.create_task(self._consume_forever(), name="event-broker")

    async def _consume_forever(self) -> None:
        delay, lost, behind_since = 0.1, False, 0.0
        while not self._closing:
            try:
                events = await self.log.wait(self.position, WAIT_SECONDS)
                if lost:
                    logger.warning("event log reachable again; catching up")
                    lost, delay = False, 0.1
                self.running.set()
                if not events:
                    behind_since = await self._check_behind(behind_since)
                    continue
                behind_since = 0.0
                if events[0].id > self.position + 1:  # a gap: rolled back, or trimmed unseen?
                    floor = await self.log.floor()
                    if floor > self.position:
                        logger.warning("events were trimmed before this process read them")
                        self.position = floor
                        self.resync()
                for event in events:
                    if event.id > self.position:
                        await self.dispatch(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: reconnect with backoff, then catch up
                if not lost:
                    logger.warning("event log unreachable (%s); reconnecting", exc)
                self.running.clear()
                lost = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _check_behind(self, since: float) -> float:
        """The log's top below our position: Redis lost the stream and the relays are
        rebuilding it from the outbox (it catches up within a few polls; nothing is lost) -
        or the database was replaced, and ids start over: then, after a grace period, start
        over with them and have every subscriber refetch."""
        top = await self.log.top()
        if top >= self.position:
            return 0.0
        now = time.monotonic()
        if not since:
            return now
        if now - since < REBUILD_GRACE_SECONDS:
            return since
        logger.warning("the event log restarted below this process's position: resync")
        self.position = top
        self.resync()
        return 0.0

    async def close(self) -> None:
        """Stop the loop at its next turn (within ``WAIT_SECONDS``). Not by cancelling it in
        the middle of a blocking read: redis-py can swallow that cancellation."""
        if self._task is None:
            return
        self._closing = True
        await asyncio.wait([self._task], timeout=WAIT_SECONDS + 1)
        if not self._task.done():
            self._task.cancel()
            await asyncio.wait([self._task], timeout=1)
        self._task = None
