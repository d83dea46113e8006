"""A fetched batch of events is applied in one transaction: a duplicate is applied once, a batch redelivered
changes nothing, and a batch that fails (at a handler or at its commit) is split until the one failing event
is alone, so every other event applies exactly once, in stream order. A set-based handler gets the whole
batch in one call. Real NATS and a real database (SQLite, or PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date

import nats
import pytest
import pytest_asyncio
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from services.common.db import Database, ensure_database
from services.common.events import SPOT_CHECK_FAILED, CloudEvent, SpotCheckRecorded, make_event
from services.common.messaging import (
    Batched,
    Bus,
    DeadLetter,
    Delivery,
    InboxConsumer,
    InboxMessage,
    PoisonEvent,
    emit,
    stream_name,
)
from services.common.settings import Settings
from tests.harness import eventually

pytestmark = pytest.mark.asyncio

SERVICE = "batchtest"
STREAM = stream_name("inspection")

metadata = MetaData()
# One row per application of an event, in the order they were applied.
applied = Table(
    "applied",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("label", String(20), nullable=False),
    Column("seen_before", Integer, nullable=False),  # rows the handler's own session saw
    Column("committed_before", Integer, nullable=False),  # rows another connection saw
)
parent = Table("parent", metadata, Column("id", Integer, primary_key=True))
# Checked only at COMMIT: a row pointing nowhere makes the commit itself fail.
child = Table(
    "child",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("parent_id", Integer, ForeignKey("parent.id", deferrable=True, initially="DEFERRED")),
)


def event(label: str) -> CloudEvent:
    return make_event(
        SPOT_CHECK_FAILED,
        SpotCheckRecorded(
            spot_check_id=f"sc-{label}",
            enterprise_id="e1",
            product="燃气灶",
            batch=label,
            verdict="failed",
            failed_items=["熄火保护"],
            sampled_on=date.today(),
        ),
        region="141121",
        enterprise_id="e1",
    )


@pytest_asyncio.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    url = settings.database_url_for(SERVICE)
    await ensure_database(url)
    database = Database(url)
    messaging = [SQLModel.metadata.tables[name] for name in ("inbox", "dead_letter", "outbox")]
    async with database.engine.begin() as conn:
        await conn.run_sync(lambda sync: SQLModel.metadata.create_all(sync, tables=messaging))
        await conn.run_sync(metadata.create_all)
    yield database
    await database.dispose()


class Handler:
    """Records each application; ``poison`` is never applicable, ``flaky`` fails its first time,
    ``orphan`` breaks a deferred foreign key, so that only the commit fails."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.calls: Counter[str] = Counter()
        self.batches: list[int] = []

    async def __call__(self, session: AsyncSession, event: CloudEvent, payload: SpotCheckRecorded) -> None:
        label = payload.batch
        self.calls[label] += 1
        count = select(func.count()).select_from(applied)
        seen = await session.scalar(count)
        async with self.db.session() as other:
            committed = await other.scalar(count)
        await session.execute(
            insert(applied).values(
                event_id=event.id, label=label, seen_before=seen, committed_before=committed
            )
        )
        if label == "poison":
            raise PoisonEvent("抽查编号不存在")
        if label == "flaky" and self.calls[label] == 1:
            raise RuntimeError("database busy")
        if label == "orphan":
            await session.execute(insert(child).values(id=1, parent_id=404))

    async def apply_all(self, session: AsyncSession, deliveries: Sequence[Delivery]) -> None:
        """A set-based handler: records the size of each call, then applies the events in order."""
        self.batches.append(len(deliveries))
        for delivery in deliveries:
            await self(session, delivery.event, delivery.payload)


async def publish(bus: Bus, messages: list[tuple[CloudEvent, str]]) -> None:
    assert bus.js is not None
    for message, msg_id in messages:
        await bus.js.publish(
            SPOT_CHECK_FAILED.subject, message.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id}
        )


@asynccontextmanager
async def consumer(
    settings: Settings,
    db: Database,
    messages: list[tuple[CloudEvent, str]],
    handler: Handler | None = None,
    batched: bool = False,
) -> AsyncIterator[tuple[Handler, Bus]]:
    """Publish ``messages`` (event, Nats-Msg-Id) first, then start a consumer: its first fetch takes them all."""
    bus = Bus(settings, SERVICE)
    bus.start()
    handler = handler or Handler(db)
    inbox = InboxConsumer(
        db=db,
        bus=bus,
        service=SERVICE,
        stream=STREAM,
        handlers={SPOT_CHECK_FAILED: Batched(handler.apply_all) if batched else handler},
    )
    try:
        await asyncio.wait_for(bus.ready.wait(), 15)
        await publish(bus, messages)
        inbox.start()
        yield handler, bus
    finally:
        await inbox.stop()
        await bus.close()


async def rows(db: Database) -> list[tuple[str, int, int]]:
    async with db.session() as session:
        result = await session.execute(
            select(applied.c.label, applied.c.seen_before, applied.c.committed_before).order_by(applied.c.seq)
        )
        return [tuple(row) for row in result.all()]  # type: ignore[misc]


async def dead_letters(db: Database) -> list[DeadLetter]:
    async with db.session() as session:
        return list((await session.execute(select(DeadLetter))).scalars().all())


async def all_acked(settings: Settings) -> None:
    nc = await nats.connect(settings.nats_url)
    try:
        info = await nc.jetstream().consumer_info(STREAM, f"{SERVICE}-v1")
    finally:
        await nc.close()
    assert info.num_pending == 0 and info.num_ack_pending == 0, info


def by_id(*events: CloudEvent) -> list[tuple[CloudEvent, str]]:
    return [(e, e.id) for e in events]


async def settle(db: Database, settings: Settings, *, applied_rows: int, dead: int = 0) -> None:
    async def settled() -> None:
        assert len(await rows(db)) == applied_rows
        assert len(await dead_letters(db)) == dead
        await all_acked(settings)

    await eventually(settled, timeout=20)
    await asyncio.sleep(0.5)  # a wrong redelivery would show now
    await all_acked(settings)
    assert len(await rows(db)) == applied_rows


async def test_a_batch_commits_once_with_its_events_in_stream_order(settings: Settings, db: Database) -> None:
    labels = [f"e{i}" for i in range(20)]
    async with consumer(settings, db, by_id(*(event(label) for label in labels))) as (handler, _):
        await settle(db, settings, applied_rows=20)
    # Each saw the writes of those before it in the same transaction, and none saw any of them committed.
    assert await rows(db) == [(label, i, 0) for i, label in enumerate(labels)]
    assert handler.calls == dict.fromkeys(labels, 1)


async def test_a_set_based_handler_gets_the_whole_batch_in_one_call(settings: Settings, db: Database) -> None:
    labels = [f"e{i}" for i in range(50)]
    async with consumer(settings, db, by_id(*(event(label) for label in labels)), batched=True) as (
        handler,
        _,
    ):
        await settle(db, settings, applied_rows=50)
    assert handler.batches == [50]
    assert [label for label, _, _ in await rows(db)] == labels


@pytest.mark.parametrize("batched", [False, True], ids=["per-event", "set-based"])
async def test_a_poison_event_in_a_batch_of_100_is_dead_lettered_alone(
    settings: Settings, db: Database, batched: bool
) -> None:
    labels = [f"e{i}" for i in range(100)]
    labels[37] = "poison"
    events = {label: event(label) for label in labels}
    async with consumer(settings, db, by_id(*events.values()), batched=batched) as (handler, _):
        await settle(db, settings, applied_rows=99, dead=1)
    # The 99 others committed once each, in stream order; the batch was split down to the poison alone.
    assert [label for label, _, _ in await rows(db)] == [label for label in labels if label != "poison"]
    assert 1 < handler.calls["poison"] <= 8
    [dead] = await dead_letters(db)
    assert dead.event_id == events["poison"].id and dead.error == "抽查编号不存在"
    async with db.session() as session:
        inbox = set((await session.execute(select(InboxMessage.event_id))).scalars().all())
    assert inbox == {e.id for label, e in events.items() if label != "poison"}


async def test_a_transient_failure_is_retried_and_applied_once_in_order(
    settings: Settings, db: Database
) -> None:
    labels = ["e0", "e1", "flaky", "e3"]
    async with consumer(settings, db, by_id(*(event(label) for label in labels))) as (handler, _):
        await settle(db, settings, applied_rows=4)
    # The batch failed and was split: the first half committed together, then the second half, in which
    # the flaky event worked at its second try.
    assert await rows(db) == [("e0", 0, 0), ("e1", 1, 0), ("flaky", 2, 2), ("e3", 3, 2)]
    assert handler.calls == {"e0": 2, "e1": 2, "flaky": 2, "e3": 1} and await dead_letters(db) == []


async def test_the_same_event_twice_in_one_batch_is_applied_once(settings: Settings, db: Database) -> None:
    twice = event("twice")
    e0, e1 = event("e0"), event("e1")
    # Different message ids defeat JetStream's de-duplication: only the inbox stands in the way.
    messages = [(e0, e0.id), (twice, f"{twice.id}-a"), (e1, e1.id), (twice, f"{twice.id}-b")]
    async with consumer(settings, db, messages) as (handler, _):
        await settle(db, settings, applied_rows=3)
    assert await rows(db) == [("e0", 0, 0), ("twice", 1, 0), ("e1", 2, 0)]
    assert handler.calls == {"e0": 1, "twice": 1, "e1": 1}


async def test_a_committed_batch_delivered_again_changes_nothing(settings: Settings, db: Database) -> None:
    events = [event(f"e{i}") for i in range(30)]
    async with consumer(settings, db, by_id(*events), batched=True) as (handler, bus):
        await settle(db, settings, applied_rows=30)
        before = await rows(db)
        # The whole batch again, under new message ids (as a consumer that died before acking would get it).
        await publish(bus, [(e, f"{e.id}-again") for e in events])
        await settle(db, settings, applied_rows=30)
    assert await rows(db) == before
    assert handler.batches == [30]  # the second delivery reached no handler: every event was in the inbox


async def test_a_batch_that_cannot_commit_is_split_down_to_the_event_that_breaks_it(
    settings: Settings, db: Database
) -> None:
    settings = settings.model_copy(update={"max_deliver": 2})
    labels = ["e0", "e1", "orphan", "e2"]
    events = {label: event(label) for label in labels}
    async with consumer(settings, db, by_id(*events.values())):
        await settle(db, settings, applied_rows=3, dead=1)
    # The batch was rolled back at its commit; its halves [e0, e1] and [orphan, e2] each had a transaction,
    # then the second half's halves: every good event committed once.
    assert await rows(db) == [("e0", 0, 0), ("e1", 1, 0), ("e2", 2, 2)]
    [dead] = await dead_letters(db)
    assert dead.event_id == events["orphan"].id and dead.deliveries == 2 and "IntegrityError" in dead.error


async def test_events_emitted_in_a_batch_wake_the_relay_when_the_batch_commits(db: Database) -> None:
    wakes: list[str] = []
    db.on_outbox_commit = lambda: wakes.append("woken")
    payload = event("x").data
    async with db.transaction(immediate=True) as session:
        async with session.begin_nested():
            emit(
                session,
                SPOT_CHECK_FAILED,
                SpotCheckRecorded.model_validate(payload),
                region="141121",
                enterprise_id="e1",
            )
        assert wakes == []  # released, not committed: the relay would find nothing yet
        with pytest.raises(PoisonEvent):
            async with session.begin_nested():
                raise PoisonEvent("the next event fails")
    assert wakes == ["woken"]  # the outbox row is published as soon as the transaction commits
