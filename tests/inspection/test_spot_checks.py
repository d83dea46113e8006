"""Spot checks over real NATS: inspection learns units from registry, checks jurisdiction, announces failures."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from datetime import date

import httpx
import nats
import pytest

from services.common.settings import Settings
from services.inspection.app import create_app as inspection_app
from services.registry.app import create_app as registry_app
from tests.harness import JIAOCHENG, WENSHUI, enterprise_body, eventually, identity, make_uscc, serving

pytestmark = pytest.mark.asyncio


def spot_check(enterprise_id: str, verdict: str = "failed", items: list[str] | None = None) -> dict:
    return {
        "enterprise_id": enterprise_id,
        "product": "电动自行车",
        "batch": "EB-01",
        "verdict": verdict,
        "failed_items": ["制动性能"] if items is None else items,
        "sampled_on": date.today().isoformat(),
    }


async def _registered(registry: httpx.AsyncClient, inspection: httpx.AsyncClient, settings: Settings) -> str:
    unit = (
        await registry.post(
            "/enterprises", json=enterprise_body(make_uscc(3)), headers=identity(settings, WENSHUI)
        )
    ).json()["id"]

    async def known() -> None:
        response = await inspection.post(
            "/spot-checks", json=spot_check(unit, "passed", []), headers=identity(settings, WENSHUI)
        )
        assert response.status_code == 201, response.text

    await eventually(known)
    return unit


async def test_a_failed_spot_check_is_announced_and_a_passed_one_is_not_a_failure(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        registry = await stack.enter_async_context(serving(registry_app(settings)))
        inspection = await stack.enter_async_context(serving(inspection_app(settings)))
        unit = await _registered(registry, inspection, settings)
        response = await inspection.post(
            "/spot-checks", json=spot_check(unit), headers=identity(settings, WENSHUI)
        )
        assert response.status_code == 201
        created = response.json()
        assert created["region_code"] == "141121" and created["failed_items"] == ["制动性能"]
        assert (
            await inspection.get(f"/spot-checks/{created['id']}", headers=identity(settings, WENSHUI))
        ).status_code == 200
        assert (
            await inspection.get(f"/spot-checks/{created['id']}", headers=identity(settings, JIAOCHENG))
        ).status_code == 404

        nc = await nats.connect(settings.nats_url)
        sub = await nc.jetstream().pull_subscribe("qsr.inspection.>", stream="QSR_INSPECTION")
        messages = await sub.fetch(2, timeout=10)
        await nc.close()
        events = [json.loads(m.data) for m in messages]
        assert [e["type"] for e in events] == [
            "qsr.inspection.spot_check.passed.v1",
            "qsr.inspection.spot_check.failed.v1",
        ]
        assert events[1]["data"]["spot_check_id"] == created["id"] and events[1]["region"] == "141121"


async def test_spot_check_input_is_checked(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        registry = await stack.enter_async_context(serving(registry_app(settings)))
        inspection = await stack.enter_async_context(serving(inspection_app(settings)))
        unit = await _registered(registry, inspection, settings)
        headers = identity(settings, WENSHUI)
        no_items = await inspection.post("/spot-checks", json=spot_check(unit, "failed", []), headers=headers)
        assert (no_items.status_code, no_items.json()["code"]) == (422, "SPOT_CHECK_VERDICT_INCONSISTENT")
        passed_with_items = await inspection.post(
            "/spot-checks", json=spot_check(unit, "passed"), headers=headers
        )
        assert passed_with_items.status_code == 422
        unknown = await inspection.post("/spot-checks", json=spot_check("no-such-unit"), headers=headers)
        assert (unknown.status_code, unknown.json()["code"]) == (404, "ENTERPRISE_NOT_FOUND")
        neighbour = await inspection.post(
            "/spot-checks", json=spot_check(unit), headers=identity(settings, JIAOCHENG)
        )
        assert neighbour.status_code == 404
        bad_date = await inspection.post(
            "/spot-checks", json={**spot_check(unit), "sampled_on": "yesterday"}, headers=headers
        )
        assert bad_date.status_code == 422 and bad_date.json()["errors"][0]["field"] == "sampled_on"
        future = await inspection.post(
            "/spot-checks", json={**spot_check(unit), "sampled_on": "2999-01-01"}, headers=headers
        )
        assert (future.status_code, future.json()["code"]) == (422, "SPOT_CHECK_SAMPLED_IN_FUTURE")


async def test_a_retest_is_refused_for_a_passed_check_a_date_before_sampling_and_a_second_time(
    settings: Settings,
) -> None:
    async with AsyncExitStack() as stack:
        registry = await stack.enter_async_context(serving(registry_app(settings)))
        inspection = await stack.enter_async_context(serving(inspection_app(settings)))
        unit = await _registered(registry, inspection, settings)
        headers = identity(settings, WENSHUI)
        passed = (
            await inspection.post("/spot-checks", json=spot_check(unit, "passed", []), headers=headers)
        ).json()
        failed = (await inspection.post("/spot-checks", json=spot_check(unit), headers=headers)).json()
        upheld = {"result": "upheld", "decided_on": date.today().isoformat()}

        refused = await inspection.post(f"/spot-checks/{passed['id']}/retest", json=upheld, headers=headers)
        assert refused.status_code == 409 and refused.json()["code"] == "SPOT_CHECK_NOT_FAILED"
        unapplied = await inspection.post(f"/spot-checks/{failed['id']}/retest", json=upheld, headers=headers)
        assert unapplied.status_code == 409 and unapplied.json()["code"] == "SPOT_CHECK_RETEST_NOT_APPLIED"
        today = {"received_on": date.today().isoformat()}
        received = await inspection.post(
            f"/spot-checks/{failed['id']}/result-received", json=today, headers=headers
        )
        assert received.status_code == 200, received.text
        applied = await inspection.post(
            f"/spot-checks/{failed['id']}/retest-application",
            json={"applied_on": date.today().isoformat()},
            headers=headers,
        )
        assert applied.status_code == 200 and applied.json()["retest_applied_on"] == date.today().isoformat()
        early = await inspection.post(
            f"/spot-checks/{failed['id']}/retest",
            json={**upheld, "decided_on": "2020-01-01"},
            headers=headers,
        )
        assert early.status_code == 422
        kept = await inspection.post(f"/spot-checks/{failed['id']}/retest", json=upheld, headers=headers)
        assert kept.status_code == 200 and kept.json()["retest_result"] == "upheld"
        again = await inspection.post(
            f"/spot-checks/{failed['id']}/retest", json={**upheld, "result": "overturned"}, headers=headers
        )
        assert again.status_code == 409
        assert (await inspection.get(f"/spot-checks/{failed['id']}", headers=headers)).json()[
            "retest_result"
        ] == "upheld"
