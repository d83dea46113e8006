"""A failed spot check raises the unit to key supervision over real NATS; a re-test that overturns it brings
the unit back, and the province's event stream shows both changes."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from services.common.launcher import System
from tests.e2e.client import EventListener, login
from tests.e2e.test_spot_check_flow import CLASS_CHANGED, fail_spot_check, grading_of
from tests.harness import enterprise_body, eventually, make_uscc

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]


async def test_an_overturning_retest_undoes_the_key_class(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=10) as gateway:
        wenshui = await login(gateway, "wenshui")
        jiaocheng = await login(gateway, "jiaocheng")
        province = await login(gateway, "sx-province")
        async with EventListener(system.url("gateway"), province) as stream:
            created = await gateway.post(
                "/api/v1/registry/enterprises", headers=wenshui, json=enterprise_body(make_uscc(61))
            )
            unit = created.json()["id"]
            spot_check = await fail_spot_check(gateway, wenshui, unit, 1)

            async def key() -> None:
                decision = (await grading_of(gateway, wenshui, unit))["decision"]
                assert decision["supervision_class"] == "key" and decision["locked"]

            await eventually(key, timeout=10)

            # 产品质量法 art. 15: the unit applies within 15 days of receiving the result.
            checked = f"/api/v1/inspection/spot-checks/{spot_check['id']}"
            today = date.today().isoformat()
            received = await gateway.post(
                f"{checked}/result-received", json={"received_on": today}, headers=wenshui
            )
            assert received.status_code == 200, received.text
            application = f"{checked}/retest-application"
            assert (
                await gateway.post(application, json={"applied_on": today}, headers=jiaocheng)
            ).status_code == 404
            applied = await gateway.post(application, json={"applied_on": today}, headers=wenshui)
            assert applied.status_code == 200, applied.text
            retest = f"/api/v1/inspection/spot-checks/{spot_check['id']}/retest"
            body = {"result": "overturned", "decided_on": date.today().isoformat(), "note": "复检样品合格"}
            assert (await gateway.post(retest, json=body, headers=jiaocheng)).status_code == 404
            done = await gateway.post(retest, json=body, headers=wenshui)
            assert done.status_code == 200, done.text
            assert done.json()["retest_result"] == "overturned"
            again = await gateway.post(retest, json=body, headers=wenshui)
            assert again.status_code == 409 and again.json()["code"] == "SPOT_CHECK_RETEST_ALREADY_DECIDED"

            async def routine() -> dict:
                body = await grading_of(gateway, wenshui, unit)
                assert body["decision"]["supervision_class"] == "routine"
                return body

            body = await eventually(routine, timeout=10)
            assert body["decision"]["overturned_signals"] == [body["signals"][0]["id"]]

            async def both_streamed() -> None:
                changes = [e["data"] for e in stream.of(CLASS_CHANGED, unit)]
                assert [(c["from_class"], c["to_class"]) for c in changes] == [
                    ("routine", "key"),
                    ("key", "routine"),
                ]

            await eventually(both_streamed, timeout=10)
