"""Nothing lost, nothing applied twice: outbox while NATS is down, duplicate deliveries, poison messages."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from datetime import date

import httpx
import nats
import pytest
from sqlalchemy import func, select

from services.common.events import SPOT_CHECK_FAILED, CloudEvent, SpotCheckRecorded, make_event
from services.common.messaging import DeadLetter, OutboxMessage
from services.common.settings import Settings
from services.grading.app import create_app as grading_app
from services.grading.models import RiskSignal
from services.registry.app import create_app as registry_app
from services.reporting.app import create_app as reporting_app
from tests.harness import (
    SX_PROVINCE,
    WENSHUI,
    NatsServer,
    enterprise_body,
    eventually,
    identity,
    make_uscc,
    serving,
)

pytestmark = pytest.mark.asyncio


def failed_spot_check(enterprise_id: str, spot_check_id: str) -> CloudEvent:
    """The event inspection publishes for a failed spot check of a unit in Wenshui, sampled today."""
    return make_event(
        SPOT_CHECK_FAILED,
        SpotCheckRecorded(
            spot_check_id=spot_check_id,
            enterprise_id=enterprise_id,
            product="燃气灶",
            batch="B1",
            verdict="failed",
            failed_items=["熄火保护"],
            sampled_on=date.today(),
        ),
        region="141121",
        enterprise_id=enterprise_id,
    )


async def _grading_of(client: httpx.AsyncClient, settings: Settings, enterprise_id: str) -> dict:
    response = await client.get(f"/enterprises/{enterprise_id}", headers=identity(settings, WENSHUI))
    assert response.status_code == 200, response.text
    return response.json()


async def test_events_written_while_nats_is_down_are_delivered_after_it_restarts(
    settings: Settings, nats_server: NatsServer
) -> None:
    async with AsyncExitStack() as stack:
        registry = await stack.enter_async_context(serving(registry_app(settings)))
        grading_service = grading_app(settings)
        grading = await stack.enter_async_context(serving(grading_service))

        nats_server.stop()
        created = await registry.post(
            "/enterprises", json=enterprise_body(make_uscc(1)), headers=identity(settings, WENSHUI)
        )
        assert created.status_code == 201  # the ledger does not wait for NATS
        enterprise_id = created.json()["id"]
        await asyncio.sleep(1.0)  # the relay tries and backs off meanwhile
        db = registry._transport.app.state.db  # type: ignore[attr-defined]
        async with db.session() as session:
            pending = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
            )
        assert pending == 1

        nats_server.start()

        async def graded() -> None:
            assert ((await _grading_of(grading, settings, enterprise_id))["decision"] or {}).get(
                "tier"
            ) == "C"

        await eventually(graded, timeout=30)


async def test_an_event_delivered_twice_is_applied_once(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        grading = await stack.enter_async_context(serving(grading_app(settings)))
        reporting = await stack.enter_async_context(serving(reporting_app(settings)))
        event = failed_spot_check("e1", "s1")
        nc = await nats.connect(settings.nats_url)
        js = nc.jetstream()
        # Different message ids defeat the stream's own de-duplication: only the inbox stands in the way.
        for attempt in range(2):
            await js.publish(
                SPOT_CHECK_FAILED.subject,
                event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": f"{event.id}-{attempt}"},
            )
        await nc.close()

        async def applied_once() -> None:
            body = await _grading_of(grading, settings, "e1")
            assert body["decision"]["supervision_class"] == "key"
            assert len(body["signals"]) == 1
            summary = (await reporting.get("/summary", headers=identity(settings, WENSHUI))).json()
            assert summary["failed_spot_checks"] == 0  # not registered yet: counted once it is
            db = reporting._transport.app.state.db  # type: ignore[attr-defined]
            async with db.session() as session:
                from services.reporting.models import ReportedEnterprise

                row = await session.get(ReportedEnterprise, "e1")
            assert row is not None and row.failed_spot_checks == 1

        await eventually(applied_once)
        await asyncio.sleep(0.5)  # give a wrongly repeated application time to show
        await applied_once()
        gdb = grading._transport.app.state.db  # type: ignore[attr-defined]
        async with gdb.session() as session:
            assert await session.scalar(select(func.count()).select_from(RiskSignal)) == 1


async def test_a_poison_event_goes_to_the_dead_letter_stream_and_the_next_one_is_applied(
    settings: Settings,
) -> None:
    async with serving(grading_app(settings)) as grading:
        nc = await nats.connect(settings.nats_url)
        js = nc.jetstream()
        poison = failed_spot_check("e1", "s1").model_dump(mode="json")
        poison["data"]["sampled_on"] = "not a date"
        await js.publish(
            SPOT_CHECK_FAILED.subject, json.dumps(poison).encode(), headers={"Nats-Msg-Id": poison["id"]}
        )
        good = failed_spot_check("e2", "s2")
        await js.publish(
            SPOT_CHECK_FAILED.subject, good.model_dump_json().encode(), headers={"Nats-Msg-Id": good.id}
        )

        async def good_applied() -> None:
            assert (await _grading_of(grading, settings, "e2"))["decision"]["supervision_class"] == "key"

        await eventually(good_applied)
        sub = await js.pull_subscribe("qsr.dlq.>", stream="QSR_DLQ")
        [dead] = await sub.fetch(1, timeout=10)
        await nc.close()
        assert json.loads(dead.data)["id"] == poison["id"]
        assert dead.headers["Qsr-Consumer"] == "grading-v1"

        listed = await grading.get("/dead-letters", headers=identity(settings, SX_PROVINCE))
        assert listed.status_code == 200
        [row] = listed.json()
        assert row["event_id"] == poison["id"] and "sampled_on" in row["error"]
        assert (await grading.get("/dead-letters", headers=identity(settings, WENSHUI))).status_code == 403
        db = grading._transport.app.state.db  # type: ignore[attr-defined]
        async with db.session() as session:
            assert await session.scalar(select(func.count()).select_from(DeadLetter)) == 1
