"""Everything a request may need, built once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from app.auth.authenticator import Authenticator
from app.auth.passwords import Passwords
from app.auth.sessions import SessionStore
from app.config import Settings
from app.db.database import Database
from app.events import Event
from app.events.broker import Broker
from app.events.log import EventLog, MemoryEventLog
from app.events.redis_log import RedisEventLog
from app.events.relay import Relay
from app.kv import connection
from app.kv.attempts import AttemptCounter, MemoryAttemptCounter, RedisAttemptCounter
from app.kv.breaker import Breaker
from app.kv.cache import MemoryRowCache, NoCache, RedisRowCache, RowCache, keys_for
from app.observability.tracing import Tracing, tracing_for
from app.storage.files import Files
from app.storage.signing import UrlSigner
from app.storage.stores import build_blob_store
from app.storage.urls import DownloadUrls


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: Redis | None
    auth: Authenticator
    files: Files
    signer: UrlSigner
    urls: DownloadUrls
    broker: Broker
    relay: Relay
    cache: RowCache
    breaker: Breaker
    tracing: Tracing | None = None

    async def start(self) -> None:
        if self.tracing is not None:
            self.tracing.start()
        await self.relay.start()
        await self.broker.start()

    async def close(self) -> None:
        await self.relay.close()
        await self.broker.close()
        if isinstance(self.cache, RedisRowCache):
            await self.cache.close()
        await self.breaker.close()
        await self.files.blobs.close()
        await self.db.dispose()
        if self.redis is not None:
            await self.redis.aclose()
        if self.tracing is not None:
            self.tracing.close()


def build_services(settings: Settings) -> Services:
    db = Database(settings)
    redis = connection.connect(settings)
    attempts: AttemptCounter
    sessions = SessionStore(
        db, idle=settings.session_idle_seconds, lifetime=settings.session_lifetime_seconds
    )
    breaker = Breaker(settings.redis_timeout_seconds, redis.ping if redis is not None else None)
    if redis is None:
        attempts = MemoryAttemptCounter(window=settings.login_window_seconds)
    else:
        attempts = RedisAttemptCounter(
            redis, settings.redis_prefix, window=settings.login_window_seconds, breaker=breaker
        )
    passwords = Passwords(
        time_cost=settings.password_time_cost, memory_kib=settings.password_memory_kib
    )
    auth = Authenticator(
        db=db, settings=settings, sessions=sessions, attempts=attempts, passwords=passwords
    )
    files = Files(build_blob_store(settings), settings)
    signer = UrlSigner(settings.secret(), settings.signed_url_ttl_seconds)
    log: EventLog = (
        MemoryEventLog(settings.event_retention)
        if redis is None
        else RedisEventLog(redis, settings.redis_prefix, breaker)
    )
    broker = Broker(log)
    relay = Relay(
        db.background,
        log,
        keep=settings.event_retention,
        keep_seconds=settings.event_retention_seconds,
    )
    cache: RowCache
    if settings.cache_ttl_seconds == 0:
        cache = NoCache()
    elif redis is None:
        cache = MemoryRowCache(settings.cache_ttl_seconds)
    else:
        cache = RedisRowCache(redis, settings.redis_prefix, settings.cache_ttl_seconds, breaker)

    async def after_commit(events: list[Event]) -> None:
        await cache.invalidate(keys_for(events))  # first: then nobody reads the old rows
        auth.viewers.on_events(events)
        await relay.through(max(event.id for event in events))

    db.on_commit = after_commit
    broker.listeners.append(auth.viewers.on_events)  # changes committed by other processes
    urls = DownloadUrls(signer, settings.public_url)
    return Services(
        settings,
        db,
        redis,
        auth,
        files,
        signer,
        urls,
        broker,
        relay,
        cache,
        breaker,
        tracing_for(settings),
    )
