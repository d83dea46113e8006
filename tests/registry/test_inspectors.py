"""监管责任人 over a real database and NATS: the 5-working-day rule across National Day, the late list of the
jurisdiction, current assignments, who may assign, and the announcement."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.auth import Caller
from services.common.db import today_cn
from services.common.policy import PACKS_DIR
from services.common.settings import Settings
from services.registry.app import create_app
from tests.harness import (
    JIAOCHENG,
    SX_PROVINCE,
    WENSHUI,
    enterprise_caller,
    eventually,
    identity,
    make_uscc,
    new_unit,
    serving,
    stream_events,
)

pytestmark = pytest.mark.asyncio

TODAY = today_cn()


async def assign(
    client: httpx.AsyncClient,
    settings: Settings,
    unit: str,
    caller: Caller | None = None,
    **fields: Any,
) -> httpx.Response:
    """The county records the change; a back-dated recording (补录, ``recorded_on``) only the province may make,
    and the tests of the calendar use it to record on the days they need."""
    caller = caller or (SX_PROVINCE if "recorded_on" in fields else WENSHUI)
    body = {
        "inspector": "wang.wu",
        "inspector_name": "王五",
        "effective_on": "2025-09-30",
        "reason": "列入重点监管，建档锁定到人",
        **fields,
    }
    return await client.put(f"/enterprises/{unit}/inspector", json=body, headers=identity(settings, caller))


async def test_only_the_province_may_back_date_a_recording(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        unit = (await new_unit(client, settings, 9))["id"]
        refused = await assign(client, settings, unit, WENSHUI, recorded_on="2025-10-14")
        assert refused.status_code == 403 and refused.json()["code"] == "INSPECTOR_BACKDATE_PROVINCE_ONLY"
        # Entered today for a change that took effect on Sep 30, 2025: the county cannot hide that it is late.
        today = await assign(client, settings, unit, WENSHUI)
        assert today.status_code == 201 and today.json()["late"] is True


async def test_on_time_and_late_across_national_day(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        on_time = (await new_unit(client, settings, 1))["id"]
        late = (await new_unit(client, settings, 2))["id"]
        # Effective Tue Sep 30 2025: Oct 1–8 are off; Oct 9, 10, Sat 11 (worked in lieu), 13, 14 → Oct 14.
        first = await assign(client, settings, on_time, recorded_on="2025-10-14")
        assert first.status_code == 201, first.text
        assert first.json()["deadline"] == "2025-10-14" and first.json()["late"] is False
        assert first.json()["calendar_known"] is True and first.json()["previous_inspector"] is None
        second = await assign(client, settings, late, recorded_on="2025-10-15")
        assert second.status_code == 201 and second.json()["late"] is True

        # A change a year later, effective Wed Sep 30 2026: Oct 1–7 off; Oct 8, 9, Sat 10, 12, 13 → Oct 13.
        change = await assign(
            client,
            settings,
            on_time,
            inspector="zhao.liu",
            inspector_name="赵六",
            effective_on="2026-09-30",
            recorded_on="2026-10-13",
            reason="原责任人调岗",
        )
        assert change.status_code == 201, change.text
        assert change.json()["deadline"] == "2026-10-13" and change.json()["late"] is False
        assert change.json()["previous_inspector"] == "wang.wu"

        headers = identity(settings, WENSHUI)
        unit = (await client.get(f"/enterprises/{on_time}", headers=headers)).json()
        assert (unit["responsible_inspector"], unit["responsible_inspector_name"]) == ("zhao.liu", "赵六")
        history = (await client.get(f"/enterprises/{on_time}/inspector/history", headers=headers)).json()
        assert [(h["inspector"], h["effective_on"], h["late"]) for h in history] == [
            ("wang.wu", "2025-09-30", False),
            ("zhao.liu", "2026-09-30", False),
        ]
        trail = (await client.get(f"/enterprises/{on_time}/history", headers=headers)).json()["items"]
        assigned = [e for e in trail if e["entity"] == "inspector"]
        assert len(assigned) == 2
        assert assigned[-1]["changes"]["responsible_inspector"] == ["wang.wu", "zhao.liu"]
        assert "补录" in assigned[-1]["reason"]  # entered today for a day in the past

        async def announced() -> list[dict[str, Any]]:
            events = await stream_events(settings, "qsr.registry.inspector.assigned")
            assert len(events) == 3
            return events

        events = await announced()
        assert [(e["enterpriseid"], e["data"]["late"], e["data"]["deadline"]) for e in events] == [
            (on_time, False, "2025-10-14"),
            (late, True, "2025-10-14"),
            (on_time, False, "2026-10-13"),
        ]


async def test_recorded_today_by_default(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        unit = (await new_unit(client, settings, 1))["id"]
        response = await assign(client, settings, unit, effective_on=TODAY.isoformat())
        assert response.status_code == 201, response.text
        assert response.json()["recorded_on"] == TODAY.isoformat() and response.json()["late"] is False


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"recorded_on": "2099-01-01"}, 422, "INSPECTOR_DATE_INVALID"),
        ({"effective_on": "2025-10-20", "recorded_on": "2025-10-14"}, 422, "INSPECTOR_DATE_INVALID"),
        ({"effective_on": "2025-09-01"}, 422, "INSPECTOR_DATE_INVALID"),  # before the current one's
        ({"effective_on": "2025-10-09"}, 409, "INSPECTOR_UNCHANGED"),  # the same person again
        ({"inspector_name": ""}, 422, "VALIDATION_FAILED"),
        ({"reason": None}, 422, "VALIDATION_FAILED"),
    ],
)
async def test_bad_changes_are_refused(
    settings: Settings, fields: dict[str, Any], status: int, code: str
) -> None:
    async with serving(create_app(settings)) as client:
        unit = (await new_unit(client, settings, 1))["id"]
        assert (await assign(client, settings, unit, recorded_on="2025-10-14")).status_code == 201
        body = {"inspector": "zhao.liu", "inspector_name": "赵六"} if code != "INSPECTOR_UNCHANGED" else {}
        response = await assign(client, settings, unit, **{**body, **fields})
        assert response.status_code == status, response.text
        assert response.json()["code"] == code
        history = await client.get(
            f"/enterprises/{unit}/inspector/history", headers=identity(settings, WENSHUI)
        )
        assert len(history.json()) == 1


async def test_the_working_days_come_from_the_province_pack(settings: Settings, tmp_path: Path) -> None:
    packs = tmp_path / "packs"
    shutil.copytree(PACKS_DIR, packs)
    shanxi = packs / "shanxi.yaml"
    shanxi.write_text(
        shanxi.read_text(encoding="utf-8") + "deadlines:\n  inspector_change_working_days: 3\n",
        encoding="utf-8",
    )
    settings = settings.model_copy(update={"grading_packs_dir": packs})
    async with serving(create_app(settings)) as client:
        unit = (await new_unit(client, settings, 1))["id"]
        response = await assign(client, settings, unit, recorded_on="2025-10-13")
        # Three working days after Sep 30 2025: Oct 9, 10, 11 (Saturday worked in lieu).
        assert response.json()["deadline"] == "2025-10-11" and response.json()["late"] is True


async def test_late_lists_and_assignments_stay_in_the_jurisdiction(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        mine_late = (await new_unit(client, settings, 1))["id"]
        mine_on_time = (await new_unit(client, settings, 2))["id"]
        theirs = (await new_unit(client, settings, 3, "141122"))["id"]
        assert (await assign(client, settings, mine_late, recorded_on="2025-10-20")).status_code == 201
        assert (await assign(client, settings, mine_on_time, recorded_on="2025-10-09")).status_code == 201
        neighbour = await assign(
            client,
            settings,
            theirs,
            JIAOCHENG,
            inspector="li.si",
            inspector_name="李四",
        )  # recorded today, more than a year after it took effect
        assert neighbour.status_code == 201 and neighbour.json()["late"] is True

        async def late(caller: Caller, query: str = "") -> list[str]:
            response = await client.get(f"/inspectors/late{query}", headers=identity(settings, caller))
            assert response.status_code == 200, response.text
            return [item["enterprise_id"] for item in response.json()["items"]]

        assert await late(WENSHUI) == [mine_late]
        assert await late(JIAOCHENG) == [theirs]
        assert set(await late(SX_PROVINCE)) == {mine_late, theirs}
        assert await late(SX_PROVINCE, "?region=141122") == [theirs]
        page = await client.get("/inspectors/late?limit=1", headers=identity(settings, SX_PROVINCE))
        assert len(page.json()["items"]) == 1 and page.json()["next_cursor"]
        item = page.json()["items"][0]
        assert item["enterprise_name"] and item["region_code"] in {"141121", "141122"}
        refused = await client.get("/inspectors/late?region=141121", headers=identity(settings, JIAOCHENG))
        assert refused.status_code == 403 and refused.json()["code"] == "REGION_OUT_OF_JURISDICTION"

        async def assigned(caller: Caller, query: str = "") -> set[str]:
            response = await client.get(f"/inspectors/assignments{query}", headers=identity(settings, caller))
            assert response.status_code == 200, response.text
            return {item["enterprise_id"] for item in response.json()["items"]}

        assert await assigned(WENSHUI, "?inspector=wang.wu") == {mine_late, mine_on_time}
        assert await assigned(JIAOCHENG, "?inspector=wang.wu") == set()
        assert await assigned(SX_PROVINCE, "?inspector=li.si") == {theirs}
        one = await client.get(
            "/inspectors/assignments?inspector=li.si", headers=identity(settings, SX_PROVINCE)
        )
        assert (
            one.json()["items"][0]["since"] == "2025-09-30"
            and one.json()["items"][0]["inspector_name"] == "李四"
        )


async def test_a_unit_reads_its_inspector_but_cannot_assign_and_the_neighbour_sees_nothing(
    settings: Settings,
) -> None:
    async with serving(create_app(settings)) as client:
        created = await new_unit(client, settings, 1)
        unit, own = created["id"], enterprise_caller(created["uscc"])
        assert (await assign(client, settings, unit, recorded_on="2025-10-14")).status_code == 201

        refused = await assign(client, settings, unit, own, inspector="self", inspector_name="自己")
        assert refused.status_code == 403
        history = await client.get(f"/enterprises/{unit}/inspector/history", headers=identity(settings, own))
        assert history.status_code == 200 and len(history.json()) == 1
        for path in ("/inspectors/late", "/inspectors/assignments"):
            assert (await client.get(path, headers=identity(settings, own))).status_code == 403

        for caller in (JIAOCHENG, enterprise_caller(make_uscc(2))):
            for response in (
                await assign(client, settings, unit, caller, inspector="li.si", inspector_name="李四"),
                await client.get(
                    f"/enterprises/{unit}/inspector/history", headers=identity(settings, caller)
                ),
            ):
                assert response.status_code == 404 and response.json()["code"] == "ENTERPRISE_NOT_FOUND"

        async def unchanged() -> None:
            got = await client.get(f"/enterprises/{unit}", headers=identity(settings, WENSHUI))
            assert got.json()["responsible_inspector"] == "wang.wu"

        await eventually(unchanged)
