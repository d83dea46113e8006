"""Exam's own projection of units and managers: what registry enters reaches exam over real NATS (no call into
registry), and regulators list the appointed directors and officers of their area, names masked."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from services.common.auth import Caller
from services.common.db import today_cn
from services.common.settings import Settings
from services.exam.app import create_app as create_exam
from services.exam.service import mask_name
from services.registry.app import create_app as create_registry
from tests.exam.factories import LVLIANG, WENSHUI_STATION
from tests.harness import (
    JIAOCHENG,
    SX_PROVINCE,
    WENSHUI,
    enterprise_caller,
    eventually,
    id_number,
    identity,
    new_unit,
    serving,
)

APPOINTED = (today_cn() - timedelta(days=30)).isoformat()


async def appoint(
    registry: httpx.AsyncClient, settings: Settings, unit: str, caller: Caller, serial: int, **fields: object
) -> dict:
    body = {
        "role": "quality_director",
        "name": "张三",
        "id_number": id_number(serial),
        "appointed_on": APPOINTED,
    }
    response = await registry.post(
        f"/enterprises/{unit}/managers", json={**body, **fields}, headers=identity(settings, caller)
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_names_are_masked_to_the_first_character() -> None:
    assert [mask_name(n) for n in ("张三", "欧阳修", "李", " 王小明 ")] == ["张*", "欧**", "李*", "王**"]


@pytest.mark.asyncio
async def test_units_and_managers_entered_at_registry_become_candidates_in_exam(settings: Settings) -> None:
    async with serving(create_registry(settings)) as registry, serving(create_exam(settings)) as exam:
        wenshui_unit = await new_unit(
            registry, settings, 1, station_code="141121001", product_categories=["gas_stove"]
        )
        sales_unit = await new_unit(registry, settings, 2, kind="sales", sales_channel="retail")
        jiaocheng_unit = await new_unit(registry, settings, 3, region="141122")
        director = await appoint(registry, settings, wenshui_unit["id"], WENSHUI, 1, name="张三")
        officer = await appoint(
            registry, settings, wenshui_unit["id"], WENSHUI, 2, role="quality_officer", name="欧阳修"
        )
        seller = await appoint(registry, settings, sales_unit["id"], WENSHUI, 3, name="李四")
        neighbour = await appoint(registry, settings, jiaocheng_unit["id"], JIAOCHENG, 4, name="王五")
        await appoint(registry, settings, wenshui_unit["id"], WENSHUI, 5, role="principal", name="赵六")

        async def candidates(caller: Caller, **params: object) -> list[dict]:
            page = await exam.get("/candidates", params=params, headers=identity(settings, caller))
            assert page.status_code == 200, page.text
            return page.json()["items"]

        async def all_arrived() -> list[dict]:
            found = await candidates(SX_PROVINCE)
            assert len(found) == 4
            return found

        everyone = await eventually(all_arrived, timeout=15)
        assert {c["manager_id"] for c in everyone} == {
            director["id"],
            officer["id"],
            seller["id"],
            neighbour["id"],
        }
        by_id = {c["manager_id"]: c for c in everyone}
        assert by_id[director["id"]]["name_masked"] == "张*" and by_id[officer["id"]]["name_masked"] == "欧**"
        assert by_id[director["id"]]["enterprise_name"] == wenshui_unit["name"]
        assert by_id[director["id"]]["product_categories"] == ["gas_stove"]
        assert by_id[director["id"]]["station_code"] == "141121001"
        for candidate in everyone:
            text = str(candidate)
            assert "id_number" not in candidate and "name" not in candidate
            assert not any(id_number(n) in text for n in range(1, 6)) and "张三" not in text

        assert {c["manager_id"] for c in await candidates(WENSHUI)} == {
            director["id"],
            officer["id"],
            seller["id"],
        }
        assert [c["manager_id"] for c in await candidates(JIAOCHENG)] == [neighbour["id"]]
        assert len(await candidates(LVLIANG)) == 4
        assert {c["manager_id"] for c in await candidates(WENSHUI_STATION)} == {director["id"], officer["id"]}
        assert [c["manager_id"] for c in await candidates(WENSHUI, role="quality_officer")] == [officer["id"]]
        assert [c["manager_id"] for c in await candidates(WENSHUI, kind="sales")] == [seller["id"]]
        assert [c["manager_id"] for c in await candidates(SX_PROVINCE, region="141122")] == [neighbour["id"]]
        assert len(await candidates(SX_PROVINCE, region="141121001")) == 2
        paged = await exam.get("/candidates", params={"limit": 3}, headers=identity(settings, SX_PROVINCE))
        rest = await exam.get(
            "/candidates",
            params={"limit": 3, "cursor": paged.json()["next_cursor"]},
            headers=identity(settings, SX_PROVINCE),
        )
        assert len({c["manager_id"] for c in paged.json()["items"] + rest.json()["items"]}) == 4

        outside = await exam.get(
            "/candidates", params={"region": "141122"}, headers=identity(settings, WENSHUI)
        )
        assert outside.status_code == 403 and outside.json()["code"] == "REGION_OUT_OF_JURISDICTION"
        company = identity(settings, enterprise_caller(wenshui_unit["uscc"]))
        refused = await exam.get("/candidates", headers=company)
        assert refused.status_code == 403 and refused.json()["code"] == "CANDIDATES_REGULATOR_ONLY"

        # A removed manager is no longer a candidate
        removed = await registry.post(
            f"/enterprises/{wenshui_unit['id']}/managers/{officer['id']}/removal",
            json={"removed_on": today_cn().isoformat(), "reason": "离职"},
            headers=identity(settings, WENSHUI),
        )
        assert removed.status_code == 200, removed.text

        async def officer_gone() -> None:
            assert officer["id"] not in {c["manager_id"] for c in await candidates(WENSHUI)}

        await eventually(officer_gone, timeout=15)
        assert len(await candidates(WENSHUI)) == 2

        # The unit's renaming (registry.enterprise.updated) reaches the projection too
        current = await registry.get(
            f"/enterprises/{wenshui_unit['id']}", headers=identity(settings, WENSHUI)
        )
        renamed = await registry.patch(
            f"/enterprises/{wenshui_unit['id']}",
            json={"name": "文水县新名称阀门有限公司", "version": current.json()["version"], "reason": "更名"},
            headers=identity(settings, WENSHUI),
        )
        assert renamed.status_code == 200, renamed.text

        async def renamed_in_exam() -> None:
            names = {c["enterprise_name"] for c in await candidates(WENSHUI, kind="production")}
            assert names == {"文水县新名称阀门有限公司"}

        await eventually(renamed_in_exam, timeout=15)
