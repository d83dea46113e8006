"""Grading answers for a unit registered a moment ago once registry's event arrives, not 404 before it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from services.common.events import ENTERPRISE_REGISTERED, EnterpriseRegistered, make_event
from services.common.ids import new_id
from services.grading.app import create_app
from tests.harness import WENSHUI, NatsServer, identity, make_settings, make_uscc, publish_events, serving

pytestmark = pytest.mark.asyncio


async def test_the_grading_of_a_unit_registered_a_moment_ago_waits_for_its_event(
    nats_server: NatsServer, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(nats_server, database_url, tmp_path, unknown_unit_wait_seconds=3.0)
    payload = EnterpriseRegistered(
        enterprise_id=new_id(),
        uscc=make_uscc(7),
        name="文水县示范阀门有限公司",
        kind="production",
        sales_channel=None,
        region_code="141121",
        employees=25,
        revenue_wan_yuan=1500,
        entry_reason="license",
        operating_status="normal",
    )
    event = make_event(ENTERPRISE_REGISTERED, payload, region="141121", enterprise_id=payload.enterprise_id)

    async def arrives_later() -> None:
        await asyncio.sleep(0.5)
        await publish_events(settings, event)

    app = create_app(settings)
    async with serving(app) as client:
        headers = identity(settings, WENSHUI)
        started = time.monotonic()
        response, _ = await asyncio.gather(
            client.get(f"/enterprises/{payload.enterprise_id}", headers=headers), arrives_later()
        )
        elapsed = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert response.json()["decision"]["tier"] is not None
        assert 0.5 <= elapsed < 1.5, elapsed

        app.state.arrivals.wait_seconds = 0.5
        started = time.monotonic()
        unknown = await client.post(
            f"/enterprises/{new_id()}/signals",
            json={"kind": "summoned", "occurred_on": "2025-01-02"},
            headers=headers,
        )
        assert (unknown.status_code, unknown.json()["code"]) == (404, "GRADING_NOT_FOUND")
        assert 0.5 <= time.monotonic() - started < 2.0
        assert app.state.arrivals.waiting == 0
