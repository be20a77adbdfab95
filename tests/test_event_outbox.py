"""The transactional outbox and its relay, on both databases: events commit with the change
they announce (and not without it), ids commit in increasing order however writers race, the
relay copies the outbox to the log exactly once in order (even with several relays), and the
retention prunes both while keeping resumption honest."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, func, select, text

from app.config import Settings
from app.db.database import Database
from app.db.models import OutboxEvent
from app.db.transactions import writing
from app.events import ChangeKind, Event, contact_topic, record
from app.events import outbox as outbox_module
from app.events.log import MemoryEventLog
from app.events.relay import Relay


@pytest.fixture
async def db(backend_settings: Settings) -> AsyncIterator[Database]:
    database = Database(backend_settings)
    yield database
    async with database.engine.begin() as connection:
        await connection.execute(delete(OutboxEvent))
    await database.dispose()


SLOW_COMMIT = (
    "CREATE FUNCTION cg_test_slow_commit() RETURNS trigger AS $$ BEGIN "
    "PERFORM pg_sleep(random() * 0.02); RETURN NULL; END $$ LANGUAGE plpgsql",
    "CREATE CONSTRAINT TRIGGER cg_test_slow_commit AFTER INSERT ON event_outbox "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cg_test_slow_commit()",
)


def changed(n: int = 0) -> Event:
    key = uuid.UUID(int=n + 1)
    return Event(contact_topic(key), ChangeKind.UPDATED, key.hex)


async def outbox_ids(db: Database) -> list[int]:
    async with db.session() as session:
        return list(await session.scalars(select(OutboxEvent.id).order_by(OutboxEvent.id)))


async def test_events_commit_with_their_change_and_never_without_it(db: Database) -> None:
    async with db.session() as session, writing(session):
        record(session, changed(1), changed(2))
    with pytest.raises(RuntimeError):
        async with db.session() as session, writing(session):
            record(session, changed(3))
            raise RuntimeError("the change fails: its event must not be announced")
    async with db.session() as session:
        rows = list(await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))
    assert [(r.topic, r.kind) for r in rows] == [
        (contact_topic(uuid.UUID(int=2)), "UPDATED"),
        (contact_topic(uuid.UUID(int=3)), "UPDATED"),
    ]
    assert rows[1].id > rows[0].id


async def test_ids_commit_in_order_however_writers_race(db: Database) -> None:
    """A reader following the outbox by id never skips an event that commits later. On
    PostgreSQL each COMMIT is delayed at random here (a deferred trigger sleeps), which
    without the ordering lock lets a higher id commit first: the reader would step over the
    lower one for good. SQLite runs one writer at a time."""
    if db.dialect == "postgresql":
        async with db.engine.begin() as connection:
            for statement in SLOW_COMMIT:
                await connection.execute(text(statement))
    seen: list[int] = []
    done = asyncio.Event()

    async def follow() -> None:
        cursor = 0
        while True:
            finished = done.is_set()  # then this read sees every commit
            async with db.session() as session:
                found = await outbox_module.read_after(session, cursor, 1000)
            seen.extend(e.id for e in found)
            cursor = found[-1].id if found else cursor
            if finished and not found:
                return
            await asyncio.sleep(0)

    async def write(n: int) -> None:
        async with db.session() as session, writing(session):
            record(session, changed(n))

    follower = asyncio.create_task(follow())
    try:
        for wave in range(8):
            await asyncio.gather(*(write(wave * 8 + n) for n in range(8)))
    finally:
        done.set()
        await follower
        if db.dialect == "postgresql":
            async with db.engine.begin() as connection:
                await connection.execute(text("DROP FUNCTION cg_test_slow_commit() CASCADE"))
    assert seen == await outbox_ids(db)
    assert len(seen) == 64


async def test_relays_copy_the_outbox_once_and_in_order(db: Database) -> None:
    log = MemoryEventLog(capacity=1000)
    relays = [Relay(db.background, log, keep=1000, keep_seconds=3600) for _ in range(3)]
    for n in range(30):
        async with db.session() as session, writing(session):
            record(session, changed(n))
        if n % 7 == 0:
            await asyncio.gather(*(relay.relay() for relay in relays))
    await asyncio.gather(*(relay.relay() for relay in relays))
    assert [e.id for e in await log.read(0, 1000)] == await outbox_ids(db)
    first = (await log.read(0, 1))[0]
    assert (first.topic, first.kind, first.subject) == (
        contact_topic(uuid.UUID(int=1)),
        ChangeKind.UPDATED,
        uuid.UUID(int=1).hex,
    )


async def test_the_retention_prunes_the_outbox_and_the_log_together(db: Database) -> None:
    log = MemoryEventLog(capacity=1000)
    relay = Relay(db.background, log, keep=10, keep_seconds=3600)
    for n in range(25):
        async with db.session() as session, writing(session):
            record(session, changed(n))
    await relay.relay()
    ids = await outbox_ids(db)
    await relay.prune()
    kept = await outbox_ids(db)
    assert kept == ids[-10:]
    assert [e.id for e in await log.read(0, 100)] == kept
    assert await log.floor() == ids[-11]  # resuming from before it gets RESYNC


async def test_a_log_rebuilt_from_a_pruned_outbox_knows_its_floor(db: Database) -> None:
    """Redis lost the stream (a restart without persistence): the relay rebuilds it from the
    outbox, and resuming from before the outbox's oldest event is refused, not silent."""
    relay = Relay(db.background, MemoryEventLog(capacity=1000), keep=10, keep_seconds=3600)
    for n in range(25):
        async with db.session() as session, writing(session):
            record(session, changed(n))
    await relay.relay()
    await relay.prune()
    kept = await outbox_ids(db)
    rebuilt = MemoryEventLog(capacity=1000)
    relay.log = rebuilt
    await relay.relay()
    assert [e.id for e in await rebuilt.read(0, 100)] == kept
    assert await rebuilt.floor() == kept[0] - 1


async def test_a_log_ahead_of_the_outbox_is_rebuilt(db: Database) -> None:
    """The database was replaced under the same Redis prefix: the log's ids mean nothing."""
    log = MemoryEventLog(capacity=1000)
    await log.append([Event("contact:00", ChangeKind.UPDATED, "00", id=10_000_000)])
    relay = Relay(db.background, log, keep=1000, keep_seconds=3600)
    async with db.session() as session, writing(session):
        record(session, changed(1))
    await relay.prune()  # notices the log is ahead, and rebuilds it
    await relay.relay()
    async with db.session() as session:
        newest = await session.scalar(select(func.max(OutboxEvent.id)))
    assert [e.id for e in await log.read(0, 100)] == [newest]
