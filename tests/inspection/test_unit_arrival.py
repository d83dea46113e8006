"""Read your own writes across services: a request naming a unit whose registration is still on its way to
inspection waits for the event (not for the whole wait), and one naming a unit nobody registers gets 404."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from services.common.events import ENTERPRISE_REGISTERED, CloudEvent, EnterpriseRegistered, make_event
from services.common.ids import new_id
from services.common.settings import Settings
from services.inspection.app import create_app
from tests.harness import WENSHUI, NatsServer, identity, make_settings, make_uscc, publish_events, serving

pytestmark = pytest.mark.asyncio

WAIT = 3.0
ARRIVES_AFTER = 0.5


@pytest_asyncio.fixture
async def served(
    nats_server: NatsServer, database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Settings]]:
    settings = make_settings(nats_server, database_url, tmp_path, unknown_unit_wait_seconds=WAIT)
    app = create_app(settings)
    async with serving(app) as client:
        yield app, client, settings


def registered(serial: int) -> CloudEvent:
    payload = EnterpriseRegistered(
        enterprise_id=new_id(),
        uscc=make_uscc(serial),
        name="文水县示范阀门有限公司",
        kind="production",
        sales_channel=None,
        region_code="141121",
        employees=25,
        revenue_wan_yuan=1500,
        entry_reason="spot_check",
        operating_status="normal",
    )
    return make_event(ENTERPRISE_REGISTERED, payload, region="141121", enterprise_id=payload.enterprise_id)


def spot_check(enterprise_id: str) -> dict:
    return {
        "enterprise_id": enterprise_id,
        "product": "电动自行车",
        "batch": "EB-01",
        "verdict": "passed",
        "failed_items": [],
        "sampled_on": date.today().isoformat(),
    }


async def _arrives_later(settings: Settings, event: CloudEvent) -> None:
    await asyncio.sleep(ARRIVES_AFTER)
    await publish_events(settings, event)


async def test_a_spot_check_for_a_unit_registered_a_moment_ago_waits_for_its_event(
    served: tuple[FastAPI, httpx.AsyncClient, Settings],
) -> None:
    app, client, settings = served
    event = registered(1)
    unit = event.enterpriseid
    assert unit is not None
    started = time.monotonic()
    response, _ = await asyncio.gather(
        client.post("/spot-checks", json=spot_check(unit), headers=identity(settings, WENSHUI)),
        _arrives_later(settings, event),
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 201, response.text
    # Ended by the event, well before the wait would have: the registration arrived ARRIVES_AFTER seconds in.
    assert ARRIVES_AFTER <= elapsed < ARRIVES_AFTER + 1.0 < WAIT, elapsed
    assert app.state.arrivals.waiting == 0


async def test_a_unit_nobody_registers_is_not_found_after_the_wait(
    served: tuple[FastAPI, httpx.AsyncClient, Settings],
) -> None:
    app, client, settings = served
    app.state.arrivals.wait_seconds = 0.5
    started = time.monotonic()
    response = await client.post(
        "/spot-checks", json=spot_check(new_id()), headers=identity(settings, WENSHUI)
    )
    elapsed = time.monotonic() - started
    assert (response.status_code, response.json()["code"]) == (404, "ENTERPRISE_NOT_FOUND")
    assert 0.5 <= elapsed < 2.0, elapsed
    assert app.state.arrivals.waiting == 0


async def test_a_batch_of_a_phone_and_a_checklist_wait_for_their_unit_too(
    served: tuple[FastAPI, httpx.AsyncClient, Settings],
) -> None:
    _, client, settings = served
    headers = identity(settings, WENSHUI)
    first, second = registered(2), registered(3)
    assert first.enterpriseid is not None and second.enterpriseid is not None
    started = time.monotonic()
    checklist, _ = await asyncio.gather(
        client.get(f"/enterprises/{first.enterpriseid}/checklist", headers=headers),
        _arrives_later(settings, first),
    )
    assert checklist.status_code == 200, checklist.text
    operation = {
        "type": "create",
        "inspection_id": str(uuid.uuid4()),
        "enterprise_id": second.enterpriseid,
        "device_id": "phone-1",
        "device_seq": 1,
        "device_time": "2025-01-01T08:00:00+08:00",
    }
    synced, _ = await asyncio.gather(
        client.post("/inspections/sync", json={"operations": [operation]}, headers=headers),
        _arrives_later(settings, second),
    )
    assert synced.status_code == 200, synced.text
    assert synced.json()["outcomes"][0]["status"] == "applied", synced.text
    assert time.monotonic() - started < 2 * (ARRIVES_AFTER + 1.0)
