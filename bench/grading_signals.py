"""Risk signals applied per second by grading, end to end through NATS JetStream.

Starts nats-server and the grading service alone (SQLite unless QSR_BENCH_DATABASE_URL names a PostgreSQL
server, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432), publishes ``registry.enterprise.registered``
for N units and waits until grading has them all and has published what they caused. Then it publishes M
``inspection.spot_check.failed`` events (distinct spot checks sampled today, round-robin over the units,
so a unit with 3 goes to special supervision), pipelined as fast as JetStream acks them, and times from
the first publish until grading has applied all M (M ``risk_signal`` rows), polling grading's database.
Grading applies each fetched batch set-based in one transaction: inbox rows, signals, decisions, history and
outbox events, a statement per table. The outbox relay publishing those events to NATS runs in the same
process meanwhile. The raw baseline sends the same messages through a stream of their own to a pull consumer
that only acks, timed the same way, and the ratio of the two is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from nats.js import JetStreamContext
from sqlalchemy import Select, func, select

from bench.common import (
    class_counts,
    command_line,
    database_kind,
    machine,
    raw_jetstream_rate,
    record,
    service_database_url,
    start_system,
)
from services.common.db import Database
from services.common.events import (
    ENTERPRISE_REGISTERED,
    SPOT_CHECK_FAILED,
    CloudEvent,
    EventSpec,
)
from services.common.ids import new_id
from services.common.messaging import DeadLetter, OutboxMessage
from services.grading.models import GradedEnterprise, RiskSignal
from tests.harness import failed_spot_check, registration

REGION = "141121"


async def publish_all(
    js: JetStreamContext, spec: EventSpec[Any], events: list[CloudEvent], window: int
) -> None:
    """Publish with ``Nats-Msg-Id``, ``window`` publishes in flight at a time, each acked by JetStream."""
    for start in range(0, len(events), window):
        await asyncio.gather(
            *(
                js.publish(spec.subject, e.model_dump_json().encode(), headers={"Nats-Msg-Id": e.id})
                for e in events[start : start + window]
            )
        )


async def count(db: Database, stmt: Select[Any]) -> int:
    async with db.session() as session:
        return (await session.execute(stmt)).scalar_one()


async def wait_until(check: Callable[[], Awaitable[bool]], *, timeout: float, interval: float = 0.1) -> float:
    """Poll ``check`` until true; returns the perf_counter time it first was (to within ``interval``)."""
    deadline = time.perf_counter() + timeout
    while not await check():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"not done after {timeout:.0f} s")
        await asyncio.sleep(interval)
    return time.perf_counter()


async def main(units: int, signals: int, window: int, timeout: float) -> None:
    system = start_system(["grading"])
    db = Database(service_database_url(system, "grading"))
    nc = await nats.connect(system.env["QSR_NATS_URL"])
    try:
        js = nc.jetstream(timeout=30)
        ids = [new_id() for _ in range(units)]
        registered = [registration(serial, unit, REGION) for serial, unit in enumerate(ids)]
        started = time.perf_counter()
        await publish_all(js, ENTERPRISE_REGISTERED, registered, window)
        all_units = select(func.count()).select_from(GradedEnterprise)
        pending = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))  # type: ignore[union-attr]

        async def units_in() -> bool:
            return await count(db, all_units) >= units

        async def outbox_drained() -> bool:
            return await count(db, pending) == 0

        registered_at = await wait_until(units_in, timeout=timeout)
        await wait_until(outbox_drained, timeout=timeout)

        failed = [failed_spot_check(ids[i % units], i, REGION) for i in range(signals)]
        all_signals = select(func.count()).select_from(RiskSignal)

        async def signals_in() -> bool:
            return await count(db, all_signals) >= signals

        first = time.perf_counter()
        await publish_all(js, SPOT_CHECK_FAILED, failed, window)
        published = time.perf_counter()
        applied = await wait_until(signals_in, timeout=timeout)
        drained = await wait_until(outbox_drained, timeout=timeout)

        classes = await class_counts(db)
        dead = await count(db, select(func.count()).select_from(DeadLetter))
        rate = signals / (applied - first)
        raw = await raw_jetstream_rate(
            system.env["QSR_NATS_URL"], [e.model_dump_json().encode() for e in failed], window=window
        )
        print(f"command: {command_line()}")
        print(f"machine: {machine()}; database: {database_kind()}")
        print(
            f"units: {units} registered events applied in {registered_at - started:.2f} s "
            f"({units / (registered_at - started):,.0f} units/s)"
        )
        print(
            f"signals: {signals} spot_check.failed events over {units} units, {window} publishes in flight; "
            f"published (JetStream acks) in {published - first:.2f} s"
        )
        print(
            f"applied by grading: {rate:,.0f} signals/s "
            f"({signals} in {applied - first:.2f} s from the first publish); "
            f"its outbox drained to NATS {drained - applied:.2f} s later"
        )
        print(
            f"raw baseline, the same {signals} messages to a pull consumer that only acks: {raw:,.0f} msg/s; "
            f"ratio {rate / raw:.2f} (target >= 0.3)"
        )
        print(f"supervision classes after: {classes}; dead letters: {dead}")
        record(
            f"grading signals applied ({database_kind()})",
            rate,
            "events/s",
            target=">= 3,000 events/s, ratio >= 0.3",
            ratio=rate / raw,
        )
    finally:
        await nc.close()
        await db.dispose()
        system.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=1000, help="units registered first (N)")
    parser.add_argument("--signals", type=int, default=3000, help="failed spot checks published (M)")
    parser.add_argument("--window", type=int, default=500, help="publishes awaiting their ack at once")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for each phase")
    args = parser.parse_args()
    asyncio.run(main(args.units, args.signals, args.window, args.timeout))
