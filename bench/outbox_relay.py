"""Outbox rows published per second by the relay, against the raw JetStream asynchronous publish.

Writes N committed outbox rows (grading.class.changed events, as a recompute leaves them) into a fresh
grading database (SQLite unless QSR_BENCH_DATABASE_URL names a PostgreSQL server), then times one relay of
its own nats-server from its first read until every row is marked published. The raw baseline publishes the
same bodies with JetStream's asynchronous publish, every ack in flight, into another stream, and the ratio
is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, insert, select

from bench.common import command_line, database_kind, fresh_database_url, machine, record
from services.common.db import Database, migrate
from services.common.events import CLASS_CHANGED, ClassChanged, make_event
from services.common.ids import new_id
from services.common.messaging import Bus, OutboxMessage, OutboxRelay
from services.common.settings import Settings
from tests.harness import NatsServer

REGION = "141121"


async def raw_publish_rate(js: object, subject: str, bodies: list[tuple[str, bytes]]) -> float:
    started = time.perf_counter()
    futures = [
        await js.publish_async(subject, body, headers={"Nats-Msg-Id": f"raw-{msg_id}"})  # type: ignore[attr-defined]
        for msg_id, body in bodies
    ]
    await asyncio.gather(*futures)
    return len(bodies) / (time.perf_counter() - started)


async def main(rows: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="qsr-bench-relay-"))
    nats = NatsServer(directory / "jetstream")
    nats.start()
    url = fresh_database_url("grading", directory)
    await migrate("grading", url)
    db = Database(url)
    bus = Bus(Settings(env="development", data_dir=directory, nats_url=nats.url), "grading")
    try:
        events = [
            make_event(
                CLASS_CHANGED,
                ClassChanged(
                    enterprise_id=unit,
                    from_class="routine",
                    to_class="key",
                    reasons=[],
                    source="automatic",
                    locked=False,
                    pack="national",
                    pack_version="1",
                ),
                region=REGION,
                enterprise_id=unit,
            )
            for unit in (new_id() for _ in range(rows))
        ]
        bodies = [(e.id, e.model_dump_json()) for e in events]
        async with db.transaction() as session:
            for start in range(0, rows, 5000):
                await session.execute(
                    insert(OutboxMessage),
                    [
                        {
                            "event_id": event_id,
                            "subject": CLASS_CHANGED.subject,
                            "type": CLASS_CHANGED.type,
                            "body": body,
                            "created_at": e.time,
                        }
                        for (event_id, body), e in zip(
                            bodies[start : start + 5000], events[start : start + 5000], strict=True
                        )
                    ],
                )
        bus.start()
        await asyncio.wait_for(bus.ready.wait(), 15)
        relay = OutboxRelay(db, bus)
        started = time.perf_counter()
        published = 0
        while (n := await relay.publish_pending()) > 0:
            published += n
        elapsed = time.perf_counter() - started
        async with db.session() as session:
            left = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))  # type: ignore[union-attr]
            )
        assert bus.js is not None
        await bus.js.add_stream(name="BENCH_RAW_PUBLISH", subjects=["bench.raw.publish"])
        raw = await raw_publish_rate(bus.js, "bench.raw.publish", [(i, b.encode()) for i, b in bodies])
        rate = published / elapsed
        print(f"command: {command_line()}")
        print(f"machine: {machine()}; database: {database_kind()}")
        print(
            f"relay: {published} outbox rows published and marked in {elapsed:.2f} s: {rate:,.0f} events/s "
            f"(batches of {OutboxRelay.BATCH}, every ack in flight); rows left unpublished: {left}"
        )
        print(
            f"raw JetStream asynchronous publish of the same bodies: {raw:,.0f} msg/s; ratio {rate / raw:.2f}"
        )
        record(
            f"relay: outbox rows published ({database_kind()})",
            rate,
            "events/s",
            target=">= 5,000 events/s",
            ratio=rate / raw,
        )
    finally:
        await bus.close()
        await db.dispose()
        nats.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000, help="outbox rows to publish")
    asyncio.run(main(parser.parse_args().rows))
