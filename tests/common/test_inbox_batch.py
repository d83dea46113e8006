"""A fetched batch of events is applied in one transaction, each event in a SAVEPOINT of its own: a failing
event rolls back only its own writes, a duplicate is applied once, and a batch that cannot commit is
applied one event at a time. Real NATS and a real database (SQLite, or PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
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
    Bus,
    DeadLetter,
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


@pytest.fixture(autouse=True)
def one_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch applies in one transaction unless it takes longer than the slice: not here, however slow CI is."""
    monkeypatch.setattr(InboxConsumer, "SLICE_SECONDS", 60.0)


class Handler:
    """Records each application; ``poison`` is never applicable, ``flaky`` fails its first time,
    ``orphan`` breaks a deferred foreign key, so that only the commit fails."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.calls: Counter[str] = Counter()

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


@asynccontextmanager
async def consumer(
    settings: Settings, db: Database, messages: list[tuple[CloudEvent, str]]
) -> AsyncIterator[Handler]:
    """Publish ``messages`` (event, Nats-Msg-Id) first, then start a consumer: its first fetch takes them all."""
    bus = Bus(settings, SERVICE)
    bus.start()
    handler = Handler(db)
    inbox = InboxConsumer(
        db=db, bus=bus, service=SERVICE, stream=STREAM, handlers={SPOT_CHECK_FAILED: handler}
    )
    try:
        await asyncio.wait_for(bus.ready.wait(), 15)
        assert bus.js is not None
        for message, msg_id in messages:
            await bus.js.publish(
                SPOT_CHECK_FAILED.subject, message.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id}
            )
        inbox.start()
        yield handler
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


async def test_a_failing_event_rolls_back_only_itself_and_the_batch_commits_once(
    settings: Settings, db: Database
) -> None:
    labels = ["e0", "e1", "e2", "poison", "e4", "flaky", "e6", "e7"]
    events = {label: event(label) for label in labels}
    async with consumer(settings, db, by_id(*events.values())) as handler:

        async def settled() -> None:
            assert len(await rows(db)) == 7
            assert len(await dead_letters(db)) == 1
            await all_acked(settings)

        await eventually(settled)
        await asyncio.sleep(0.5)  # a wrong redelivery would show now
        await all_acked(settings)

    # In publish order, each once. Every event saw the writes of those before it, not the poison's (rolled
    # back), and none saw another committed: the batch committed once. The flaky one came back alone.
    assert await rows(db) == [
        ("e0", 0, 0),
        ("e1", 1, 0),
        ("e2", 2, 0),
        ("e4", 3, 0),
        ("e6", 4, 0),
        ("e7", 5, 0),
        ("flaky", 6, 6),
    ]
    assert handler.calls == {**dict.fromkeys(labels, 1), "flaky": 2}
    [dead] = await dead_letters(db)
    assert dead.event_id == events["poison"].id and dead.error == "抽查编号不存在"
    async with db.session() as session:
        inbox = set((await session.execute(select(InboxMessage.event_id))).scalars().all())
    assert inbox == {e.id for label, e in events.items() if label != "poison"}


async def test_the_same_event_twice_in_one_batch_is_applied_once(settings: Settings, db: Database) -> None:
    twice = event("twice")
    e0, e1 = event("e0"), event("e1")
    # Different message ids defeat JetStream's de-duplication: only the inbox stands in the way.
    messages = [(e0, e0.id), (twice, f"{twice.id}-a"), (e1, e1.id), (twice, f"{twice.id}-b")]
    async with consumer(settings, db, messages) as handler:

        async def settled() -> None:
            assert len(await rows(db)) == 3
            await all_acked(settings)

        await eventually(settled)
        await asyncio.sleep(0.5)
        await all_acked(settings)

    assert await rows(db) == [("e0", 0, 0), ("twice", 1, 0), ("e1", 2, 0)]
    assert handler.calls == {"e0": 1, "twice": 1, "e1": 1}
    assert await dead_letters(db) == []


async def test_a_long_batch_commits_in_slices(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slice ends once it has taken longer than SLICE_SECONDS, after at least one event: with 0, every event
    # commits alone and the next one sees it committed (SQLite's write lock is let go between slices).
    monkeypatch.setattr(InboxConsumer, "SLICE_SECONDS", 0.0)
    labels = ["e0", "e1", "e2"]
    async with consumer(settings, db, by_id(*(event(label) for label in labels))) as handler:

        async def settled() -> None:
            assert len(await rows(db)) == 3
            await all_acked(settings)

        await eventually(settled)

    assert await rows(db) == [("e0", 0, 0), ("e1", 1, 1), ("e2", 2, 2)]
    assert handler.calls == dict.fromkeys(labels, 1)


async def test_a_batch_that_cannot_commit_is_applied_one_event_at_a_time(
    settings: Settings, db: Database
) -> None:
    settings = settings.model_copy(update={"max_deliver": 2})
    labels = ["e0", "e1", "orphan", "e2"]
    events = {label: event(label) for label in labels}
    async with consumer(settings, db, by_id(*events.values())) as handler:

        async def settled() -> None:
            assert len(await dead_letters(db)) == 1
            await all_acked(settings)

        await eventually(settled)

    # The batch was rolled back at its commit; then each event had a transaction of its own.
    assert await rows(db) == [("e0", 0, 0), ("e1", 1, 1), ("e2", 2, 2)]
    assert {label: handler.calls[label] for label in ("e0", "e1", "e2")} == {"e0": 2, "e1": 2, "e2": 2}
    [dead] = await dead_letters(db)
    assert dead.event_id == events["orphan"].id and dead.deliveries == 2 and "IntegrityError" in dead.error


async def test_events_emitted_in_a_batch_wake_the_relay_when_the_batch_commits(db: Database) -> None:
    wakes: list[str] = []
    db.on_outbox_commit = lambda: wakes.append("woken")
    payload = event("x").data
    async with db.transaction(savepoints=True) as session:
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
    assert wakes == ["woken"]  # the first event's outbox row is published as soon as the batch commits
