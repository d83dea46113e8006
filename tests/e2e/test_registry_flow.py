"""An enterprise enters its own unit through the gateway, its station confirms it into the ledger, and the
ledger learns over real NATS what grading decides (tier, then key supervision and locking after a failed spot
check) — every service a process of its own."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from services.common.launcher import System
from tests.e2e.client import EventListener, login
from tests.e2e.test_spot_check_flow import fail_spot_check, grading_of
from tests.harness import enterprise_body, eventually, make_uscc

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

DEMO_USCC = "91141121MA00000010"  # the demo enterprise account ent-demo


async def test_enterprise_entry_review_and_gradings_decisions_reach_the_ledger(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=10) as gateway:
        company = await login(gateway, "ent-demo")
        station = await login(gateway, "wenshui-s1")
        wenshui = await login(gateway, "wenshui")
        jiaocheng = await login(gateway, "jiaocheng")
        province = await login(gateway, "sx-province")
        async with EventListener(system.url("gateway"), province) as stream:
            data = enterprise_body(DEMO_USCC, station_code="141121001", employees=350, revenue_wan_yuan=25000)
            draft = await gateway.post("/api/v1/registry/submissions", json={"data": data}, headers=company)
            assert draft.status_code == 201, draft.text
            sid = draft.json()["id"]
            assert (
                await gateway.post(f"/api/v1/registry/submissions/{sid}/submit", headers=company)
            ).status_code == 200
            confirmed = await gateway.post(f"/api/v1/registry/submissions/{sid}/confirm", headers=station)
            assert confirmed.status_code == 200, confirmed.text
            unit = confirmed.json()["enterprise_id"]

            async def tiered() -> dict:
                got = (await gateway.get(f"/api/v1/registry/enterprises/{unit}", headers=wenshui)).json()
                assert got["tier"] is not None
                return got

            record = await eventually(tiered, timeout=15)
            assert record["tier"] == (await grading_of(gateway, wenshui, unit))["decision"]["tier"]

            await fail_spot_check(gateway, wenshui, unit, 1)

            async def key_and_locked() -> None:
                got = (await gateway.get(f"/api/v1/registry/enterprises/{unit}", headers=company)).json()
                assert (got["supervision_class"], got["locked"]) == ("key", True)

            await eventually(key_and_locked, timeout=15)
            hidden = await gateway.get(f"/api/v1/registry/enterprises/{unit}", headers=jiaocheng)
            assert hidden.status_code == 404

            async def registered_streamed() -> None:
                assert len(stream.of("qsr.registry.enterprise.registered.v1", unit)) == 1

            await eventually(registered_streamed, timeout=10)


async def test_a_region_change_moves_the_unit_and_its_spot_checks_between_jurisdictions(
    system: System,
) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=10) as gateway:
        wenshui = await login(gateway, "wenshui")
        jiaocheng = await login(gateway, "jiaocheng")
        province = await login(gateway, "sx-province")
        body = enterprise_body(make_uscc(71, "141122"), region_code="141122")
        created = await gateway.post("/api/v1/registry/enterprises", json=body, headers=jiaocheng)
        assert created.status_code == 201, created.text
        unit = created.json()["id"]
        spot_check = await fail_spot_check(gateway, jiaocheng, unit, 1)

        change = {
            "old_code": "141122",
            "new_code": "141121",
            "effective_on": str(date.today()),
            "note": "演练",
        }
        applied = await gateway.post("/api/v1/registry/region-changes", json=change, headers=province)
        assert applied.status_code == 201 and applied.json()["units_moved"] == 1

        async def moved() -> None:
            check = f"/api/v1/inspection/spot-checks/{spot_check['id']}"
            assert (await gateway.get(check, headers=jiaocheng)).status_code == 404
            assert (await gateway.get(check, headers=wenshui)).status_code == 200
            old = (await gateway.get("/api/v1/reporting/summary?region=141122", headers=province)).json()
            new = (await gateway.get("/api/v1/reporting/summary?region=141121", headers=province)).json()
            assert (old["enterprises"], new["enterprises"], new["failed_spot_checks"]) == (0, 1, 1)
            graded = await gateway.get(f"/api/v1/grading/enterprises/{unit}", headers=wenshui)
            assert graded.status_code == 200

        await eventually(moved, timeout=15)


async def test_a_sheet_imported_through_the_gateway_is_graded_and_re_importing_it_changes_nothing(
    system: System,
) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=30) as gateway:
        wenshui = await login(gateway, "wenshui")
        header = "统一社会信用代码,单位名称,单位类型,销售渠道,注册地行政区划代码,从业人员（人）,营业收入（万元）,录入原因"
        rows = [
            f"{make_uscc(900 + n)},文水县导入单位{n},生产,,141121,{20 + n},{1500 + n},摸底排查"
            for n in range(3)
        ]
        bad = "91110000600037341N,坏行,生产,,141121,10,100,摸底排查"  # wrong check character
        sheet = "\n".join([header, *rows, bad]).encode("utf-8-sig")

        first = await gateway.post(
            "/api/v1/registry/enterprises/import",
            headers=wenshui,
            files={"file": ("units.csv", sheet, "text/csv")},
        )
        assert first.status_code == 201, first.text
        assert (first.json()["created"], first.json()["rejected"]) == (3, 1)
        assert first.json()["errors"][0]["row"] == 5 and first.json()["errors"][0]["code"] == "USCC_INVALID"

        async def graded() -> list[dict]:
            listed = (await gateway.get("/api/v1/registry/enterprises?q=导入单位", headers=wenshui)).json()
            assert len(listed["items"]) == 3 and all(u["tier"] is not None for u in listed["items"])
            return listed["items"]

        units = await eventually(graded, timeout=20)
        for unit in units:
            assert (
                await gateway.get(f"/api/v1/grading/enterprises/{unit['id']}", headers=wenshui)
            ).status_code == 200

        again = await gateway.post(
            "/api/v1/registry/enterprises/import",
            headers=wenshui,
            files={"file": ("units.csv", sheet, "text/csv")},
        )
        assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (0, 0, 3)
