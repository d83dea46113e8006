"""Two processes of one service (``qsr up --replicas 2``: uvicorn workers on one port) share its durable
consumers and its outbox: over 10,000 events, with one process killed (-9) mid-batch and restarted by its
supervisor, every effect is applied exactly once and the stream holds every outbox row exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from sqlalchemy import func, select

from services.common.db import Database
from services.common.events import (
    ENTERPRISE_REGISTERED,
    SPOT_CHECK_FAILED,
    CloudEvent,
    EventSpec,
)
from services.common.ids import new_id
from services.common.launcher import System
from services.common.messaging import DeadLetter, InboxMessage, OutboxMessage, OutboxRelay
from services.grading.models import GradedEnterprise, RiskSignal
from tests.harness import eventually, failed_spot_check, free_port, registration, system_env

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

REGION = "141121"
UNITS, SIGNALS = 1000, 10_000


@pytest.fixture
def grading_twice(tmp_path: Path, database_url: str) -> Iterator[System]:
    ports = {"grading": free_port()}
    nats_port = free_port()
    env = system_env(tmp_path, database_url, nats_port, ack_wait_seconds="5")
    running = System(data_dir=tmp_path, env=env, ports=ports, nats_port=nats_port, replicas=2)
    (tmp_path / "logs").mkdir(exist_ok=True)
    try:
        running.start_nats()
        running.start_app("grading")
        running.wait_ready(["grading"], timeout=90)
        yield running
    finally:
        running.shutdown()


def workers(system: System) -> list[int]:
    supervisor = system.processes["grading"].pid
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    # multiprocessing's resource tracker is a child too; the workers are the spawned ones.
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


async def publish(js: nats.js.JetStreamContext, spec: EventSpec[object], events: list[CloudEvent]) -> None:
    for start in range(0, len(events), 500):
        await asyncio.gather(
            *(
                js.publish(spec.subject, e.model_dump_json().encode(), headers={"Nats-Msg-Id": e.id})
                for e in events[start : start + 500]
            )
        )


async def count(db: Database, model: object, *where: object) -> int:
    async with db.session() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()  # type: ignore[arg-type]


async def test_two_processes_apply_and_publish_every_event_exactly_once_through_a_kill(
    grading_twice: System, database_url: str
) -> None:
    system = grading_twice
    assert len(workers(system)) == 2
    db = Database(database_url.format(service="grading"))
    nc = await nats.connect(system.env["QSR_NATS_URL"])
    published: list[str] = []

    async def seen(msg: nats.aio.msg.Msg) -> None:
        published.append(msg.headers.get("Nats-Msg-Id", "") if msg.headers else "")

    try:
        await nc.subscribe("qsr.grading.>", cb=seen)  # every publish of the relays, duplicates included
        js = nc.jetstream(timeout=30)
        ids = [new_id() for _ in range(UNITS)]
        await publish(
            js, ENTERPRISE_REGISTERED, [registration(n, unit, REGION) for n, unit in enumerate(ids)]
        )
        failed = [failed_spot_check(ids[i % UNITS], i, REGION) for i in range(SIGNALS)]
        publishing = asyncio.create_task(publish(js, SPOT_CHECK_FAILED, failed))

        async def under_way() -> None:
            assert await count(db, RiskSignal) >= SIGNALS // 10

        await eventually(under_way, timeout=120, interval=0.05)
        victim = workers(system)[0]
        os.kill(victim, signal.SIGKILL)  # mid-batch: its fetched, unacked events go to the other or come back
        await publishing

        async def settled() -> None:
            assert await count(db, RiskSignal) == SIGNALS
            assert await count(db, OutboxMessage, OutboxMessage.published_at.is_(None)) == 0  # type: ignore[union-attr]

        await eventually(settled, timeout=240, interval=0.5)
        await asyncio.sleep(3)  # redeliveries after the kill (ack wait 5 s) would land now

        assert victim not in workers(system) and len(workers(system)) == 2  # the supervisor started another
        assert await count(db, RiskSignal) == SIGNALS
        assert await count(db, InboxMessage) == UNITS + SIGNALS
        assert await count(db, GradedEnterprise) == UNITS
        assert await count(db, GradedEnterprise, GradedEnterprise.supervision_class == "special") == UNITS
        assert await count(db, DeadLetter) == 0
        outbox = await count(db, OutboxMessage)
        # Every outbox row reached NATS, and the stream holds each once. A row is published again only if
        # its relay died between publishing and marking it: at most the killed process's one round.
        assert len(set(published)) == outbox
        assert outbox <= len(published) <= outbox + OutboxRelay.BATCH
        assert (await js.stream_info("QSR_GRADING")).state.messages == outbox
    finally:
        await nc.close()
        await db.dispose()
