"""日管控、周排查、月调度 over a real database and NATS: idempotent filing, who may file, what is owed across a
停产 pause, compliance per unit and per region, and the duty check announcing a unit that falls behind once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from services.common.auth import Caller
from services.common.db import today_cn
from services.common.settings import Settings
from services.common.workdays import is_working_day
from services.registry.app import create_app
from services.registry.models import Enterprise
from services.registry.selfchecks.rules import operating_timeline
from services.registry.selfchecks.service import check_duties
from services.registry.workdays import Pause
from tests.harness import (
    JIAOCHENG,
    SX_PROVINCE,
    WENSHUI,
    enterprise_caller,
    eventually,
    id_number,
    identity,
    make_uscc,
    new_unit,
    serving,
    stream_events,
)

D = date.fromisoformat
TODAY = today_cn()
OVERDUE_SUBJECT = "qsr.registry.self_check.overdue"


DAILY_OK = {
    "performed_by": "李四",
    "content": {"items": [{"point": "原材料进货查验", "result": "ok"}], "zero_risk": True},
}
WEEKLY_OK = {"performed_by": "张三", "content": {"summary": "本周排查未发现隐患", "status": "no_hazard"}}


def monthly(held_on: str) -> dict[str, Any]:
    return {
        "performed_by": "王五",
        "content": {
            "held_on": held_on,
            "attendees": ["王五", "张三", "李四"],
            "summary": "本月质量安全情况良好",
        },
    }


async def put(
    client: httpx.AsyncClient,
    settings: Settings,
    unit: str,
    kind: str,
    period: str,
    body: dict[str, Any],
    caller: Caller = WENSHUI,
) -> httpx.Response:
    return await client.put(
        f"/enterprises/{unit}/self-checks/{kind}/{period}", json=body, headers=identity(settings, caller)
    )


async def set_status(
    client: httpx.AsyncClient, settings: Settings, unit: str, status: str, effective_on: str
) -> None:
    response = await client.post(
        f"/enterprises/{unit}/status",
        json={"status": status, "effective_on": effective_on, "reason": "测试"},
        headers=identity(settings, WENSHUI),
    )
    assert response.status_code == 201, response.text


async def entered_on(app: FastAPI, unit: str, day: date) -> None:
    """Simulate a unit entered into the ledger on ``day`` (09:00 Beijing)."""
    async with app.state.db.transaction() as session:
        await session.execute(
            update(Enterprise)
            .where(Enterprise.id == unit)
            .values(created_at=datetime(day.year, day.month, day.day, 1, tzinfo=UTC))
        )


async def started(app: FastAPI) -> None:
    """Wait for the duty check run at start-up, so that it does not race the test's simulated clock."""

    async def ran() -> None:
        assert getattr(app.state, "duty_checks", 0) >= 1

    await eventually(ran)


# ------------------------------------------------------------------------------------------------ pure


def test_the_timeline_of_pauses_and_the_final_status() -> None:
    assert operating_timeline("normal", []) == ([], None)
    changes = [
        (D("2026-11-04"), "production_suspended"),
        (D("2026-11-10"), "business_suspended"),  # still paused, one pause
        (D("2026-11-16"), "normal"),
        (D("2026-11-20"), "production_suspended"),
    ]
    assert operating_timeline("normal", changes) == (
        [
            Pause(D("2026-11-04"), D("2026-11-15"), "production_suspended"),
            Pause(D("2026-11-20"), None, "production_suspended"),
        ],
        None,
    )
    # Paused before the first change; deregistered while paused.
    assert operating_timeline(
        "business_suspended",
        [
            (D("2026-11-09"), "normal"),
            (D("2026-11-12"), "business_suspended"),
            (D("2026-11-18"), "deregistered"),
        ],
    ) == (
        [
            Pause(date.min, D("2026-11-08"), "business_suspended"),
            Pause(D("2026-11-12"), D("2026-11-17"), "business_suspended"),
        ],
        D("2026-11-18"),
    )
    assert operating_timeline("revoked", []) == ([], date.min)


# ------------------------------------------------------------------------------------------------ filing


@pytest.mark.asyncio
async def test_a_repeat_updates_the_one_record_of_the_period(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        unit = (await new_unit(client, settings, 1))["id"]
        first = await put(client, settings, unit, "daily_control", "2026-11-16", DAILY_OK)
        assert first.status_code == 201, first.text
        record = first.json()
        assert (record["period"], record["period_start"], record["period_end"]) == ("2026-11-16",) * 3
        assert record["zero_risk"] is True and record["owed"] is True and record["recorded_by"] == "wenshui"

        same = await put(client, settings, unit, "daily_control", "2026-11-16", DAILY_OK)
        assert same.status_code == 200 and same.json()["id"] == record["id"]

        hazard = {
            "performed_by": "李四",
            "content": {
                "items": [
                    {"point": "原材料进货查验", "result": "ok"},
                    {"point": "出厂检验", "result": "hazard", "note": "压力表超期未检"},
                ],
                "hazards": [
                    {"description": "压力表超期未检", "measures": "停用并送检", "status": "rectifying"}
                ],
                "reported_to": "质量安全总监张三",
            },
        }
        changed = await put(client, settings, unit, "daily_control", "2026-11-16", hazard)
        assert changed.status_code == 200 and changed.json()["id"] == record["id"]
        assert changed.json()["zero_risk"] is False and changed.json()["reported_to"] == "质量安全总监张三"

        headers = identity(settings, WENSHUI)
        listed = (await client.get(f"/enterprises/{unit}/self-checks", headers=headers)).json()
        assert [r["id"] for r in listed["items"]] == [record["id"]]
        got = (
            await client.get(f"/enterprises/{unit}/self-checks/daily_control/2026-11-16", headers=headers)
        ).json()
        assert got["content"]["hazards"][0]["description"] == "压力表超期未检"

        history = (await client.get(f"/enterprises/{unit}/history", headers=headers)).json()["items"]
        mine = [(e["action"], e["entity_id"]) for e in history if e["entity"] == "self_check"]
        assert mine == [
            ("recorded", record["id"]),
            ("updated", record["id"]),
        ]  # the identical repeat: no entry

        # A week by its ISO name or by its Monday is the same period; a month by YYYY-MM.
        week = await put(client, settings, unit, "weekly_review", "2026-W47", WEEKLY_OK)
        assert week.status_code == 201 and week.json()["period_start"] == "2026-11-16"
        again = await put(client, settings, unit, "weekly_review", "2026-11-16", WEEKLY_OK)
        assert again.status_code == 200 and again.json()["id"] == week.json()["id"]
        month = await put(client, settings, unit, "monthly_dispatch", "2026-10", monthly("2026-10-30"))
        assert month.status_code == 201 and month.json()["period"] == "2026-10"
        assert month.json()["period_end"] == "2026-10-31"

        weekly_only = await client.get(f"/enterprises/{unit}/self-checks?kind=weekly_review", headers=headers)
        assert [r["period"] for r in weekly_only.json()["items"]] == ["2026-W47"]
        ranged = await client.get(
            f"/enterprises/{unit}/self-checks?from=2026-11-01&to=2026-11-30&limit=1", headers=headers
        )
        assert len(ranged.json()["items"]) == 1 and ranged.json()["next_cursor"]
        rest = await client.get(
            f"/enterprises/{unit}/self-checks?from=2026-11-01&to=2026-11-30&cursor={ranged.json()['next_cursor']}",
            headers=headers,
        )
        assert {r["kind"] for r in ranged.json()["items"] + rest.json()["items"]} == {
            "daily_control",
            "weekly_review",
        }


@pytest.mark.parametrize(
    ("kind", "period", "body", "code"),
    [
        ("daily_control", (TODAY + timedelta(days=1)).isoformat(), DAILY_OK, "SELF_CHECK_PERIOD_FUTURE"),
        (
            "weekly_review",
            (TODAY + timedelta(days=7 - TODAY.weekday())).isoformat(),
            WEEKLY_OK,
            "SELF_CHECK_PERIOD_FUTURE",
        ),
        (
            "monthly_dispatch",
            date(TODAY.year + (TODAY.month == 12), TODAY.month % 12 + 1, 1).strftime("%Y-%m"),
            monthly(TODAY.isoformat()),
            "SELF_CHECK_PERIOD_FUTURE",
        ),
        ("daily_control", "2026-11", DAILY_OK, "SELF_CHECK_PERIOD_INVALID"),
        ("weekly_review", "2026-11-18", WEEKLY_OK, "SELF_CHECK_PERIOD_INVALID"),  # a Wednesday
        ("monthly_dispatch", "2026-13", monthly("2026-11-02"), "SELF_CHECK_PERIOD_INVALID"),
        ("hourly_control", "2026-11-16", DAILY_OK, "VALIDATION_FAILED"),
        (
            "daily_control",
            "2026-11-16",
            {
                "performed_by": "李四",
                "content": {"items": [{"point": "出厂检验", "result": "hazard"}], "zero_risk": True},
            },
            "SELF_CHECK_CONTENT_INVALID",
        ),
        (
            "daily_control",
            "2026-11-16",
            {"performed_by": "李四", "content": {"items": [{"point": "出厂检验", "result": "hazard"}]}},
            "SELF_CHECK_CONTENT_INVALID",
        ),
        (
            "daily_control",
            "2026-11-16",
            {"performed_by": "李四", "content": {"items": []}},
            "SELF_CHECK_CONTENT_INVALID",
        ),
        (
            "weekly_review",
            "2026-W47",
            {
                "performed_by": "张三",
                "content": {"summary": "x", "status": "no_hazard", "hazards": [{"description": "y"}]},
            },
            "SELF_CHECK_CONTENT_INVALID",
        ),
        (
            "monthly_dispatch",
            "2026-10",
            monthly("2026-11-02"),
            "SELF_CHECK_CONTENT_INVALID",
        ),  # held next month
        (
            "daily_control",
            "2026-11-16",
            {**DAILY_OK, "attachment_id": "nope"},
            "SELF_CHECK_ATTACHMENT_UNKNOWN",
        ),
    ],
)
@pytest.mark.asyncio
async def test_future_or_malformed_filings_are_refused(
    settings: Settings, kind: str, period: str, body: dict[str, Any], code: str
) -> None:
    async with serving(create_app(settings)) as client:
        unit = (await new_unit(client, settings, 1))["id"]
        response = await put(client, settings, unit, kind, period, body)
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["code"] == code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in problem["detail"])
        listed = await client.get(f"/enterprises/{unit}/self-checks", headers=identity(settings, WENSHUI))
        assert listed.json()["items"] == []
        # The current period may be filed.
        today = await put(client, settings, unit, "daily_control", TODAY.isoformat(), DAILY_OK)
        assert today.status_code == 201, today.text


@pytest.mark.asyncio
async def test_the_manager_must_hold_the_post_the_kind_needs(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        unit = (await new_unit(client, settings, 1))["id"]
        other = (await new_unit(client, settings, 2))["id"]
        headers = identity(settings, WENSHUI)

        async def appoint(on: str, role: str, serial: int, name: str) -> str:
            body = {"role": role, "name": name, "id_number": id_number(serial), "appointed_on": "2026-11-02"}
            response = await client.post(f"/enterprises/{on}/managers", json=body, headers=headers)
            assert response.status_code == 201, response.text
            return response.json()["id"]

        officer = await appoint(unit, "quality_officer", 1, "李四")
        director = await appoint(unit, "quality_director", 2, "张三")
        principal = await appoint(unit, "principal", 3, "王五")
        elsewhere = await appoint(other, "quality_officer", 4, "赵六")

        ok = await put(
            client, settings, unit, "daily_control", "2026-11-16", {**DAILY_OK, "manager_id": officer}
        )
        assert ok.status_code == 201 and ok.json()["manager_id"] == officer
        for kind, period, body, manager in [
            ("daily_control", "2026-11-17", DAILY_OK, director),
            ("weekly_review", "2026-W47", WEEKLY_OK, officer),
            ("monthly_dispatch", "2026-11", monthly("2026-11-20"), director),
            ("daily_control", "2026-11-17", DAILY_OK, elsewhere),
            ("daily_control", "2026-11-17", DAILY_OK, "no-such-manager"),
            ("daily_control", "2026-10-30", DAILY_OK, officer),  # before the appointment
        ]:
            refused = await put(client, settings, unit, kind, period, {**body, "manager_id": manager})
            assert refused.status_code == 422, (kind, manager, refused.text)
            assert refused.json()["code"] == "SELF_CHECK_MANAGER_INVALID"
        assert (
            await put(
                client, settings, unit, "weekly_review", "2026-W47", {**WEEKLY_OK, "manager_id": director}
            )
        ).status_code == 201
        assert (
            await put(
                client,
                settings,
                unit,
                "monthly_dispatch",
                "2026-11",
                {**monthly("2026-11-20"), "manager_id": principal},
            )
        ).status_code == 201

        # A removed officer may still sign the days he held the post, not later ones.
        removal = await client.post(
            f"/enterprises/{unit}/managers/{officer}/removal",
            json={"removed_on": "2026-11-18", "reason": "调岗"},
            headers=headers,
        )
        assert removal.status_code == 200, removal.text
        assert (
            await put(
                client, settings, unit, "daily_control", "2026-11-18", {**DAILY_OK, "manager_id": officer}
            )
        ).status_code == 201
        late = await put(
            client, settings, unit, "daily_control", "2026-11-19", {**DAILY_OK, "manager_id": officer}
        )
        assert late.status_code == 422 and late.json()["code"] == "SELF_CHECK_MANAGER_INVALID"


@pytest.mark.asyncio
async def test_daily_items_come_from_the_risk_control_list_once_adopted(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        unit = (await new_unit(client, settings, 1))["id"]
        adopted = await client.post(
            f"/enterprises/{unit}/documents",
            json={
                "kind": "risk_control_list",
                "title": "质量安全风险管控清单",
                "adopted_on": "2026-11-02",
                "risk_points": [
                    {"point": "原材料进货查验", "controls": "逐批查验合格证明", "responsible": "采购部"},
                    {"point": "出厂检验", "controls": "逐台气密性试验", "responsible": "质检部"},
                ],
            },
            headers=identity(settings, WENSHUI),
        )
        assert adopted.status_code == 201, adopted.text
        assert (await put(client, settings, unit, "daily_control", "2026-11-16", DAILY_OK)).status_code == 201
        stray = {
            "performed_by": "李四",
            "content": {"items": [{"point": "食堂卫生", "result": "ok"}], "zero_risk": True},
        }
        refused = await put(client, settings, unit, "daily_control", "2026-11-17", stray)
        assert refused.status_code == 422 and refused.json()["code"] == "SELF_CHECK_RISK_POINT_UNKNOWN"
        # Before the list was adopted, any point was accepted.
        assert (await put(client, settings, unit, "daily_control", "2026-10-30", stray)).status_code == 201


@pytest.mark.asyncio
async def test_the_unit_files_its_own_and_nobody_else_sees_it(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        created = await new_unit(client, settings, 1)
        unit, own = created["id"], enterprise_caller(created["uscc"])
        other = enterprise_caller(make_uscc(2))
        mine = await put(client, settings, unit, "daily_control", "2026-11-16", DAILY_OK, caller=own)
        assert mine.status_code == 201 and mine.json()["recorded_by"] == own.username
        got = await client.get(f"/enterprises/{unit}/self-checks/compliance", headers=identity(settings, own))
        assert got.status_code == 200
        assert (
            await client.get("/self-checks/compliance", headers=identity(settings, own))
        ).status_code == 403

        for caller in (JIAOCHENG, other):
            headers = identity(settings, caller)
            for response in (
                await put(client, settings, unit, "daily_control", "2026-11-17", DAILY_OK, caller=caller),
                await client.get(f"/enterprises/{unit}/self-checks", headers=headers),
                await client.get(
                    f"/enterprises/{unit}/self-checks/daily_control/2026-11-16", headers=headers
                ),
                await client.get(f"/enterprises/{unit}/self-checks/compliance", headers=headers),
            ):
                assert response.status_code == 404, response.text
                assert response.json()["code"] == "ENTERPRISE_NOT_FOUND"
        listed = await client.get(f"/enterprises/{unit}/self-checks", headers=identity(settings, WENSHUI))
        assert [r["period"] for r in listed.json()["items"]] == ["2026-11-16"]


# ------------------------------------------------------------------------------------------------ owed


@pytest.mark.asyncio
async def test_what_is_owed_before_during_and_after_a_production_pause(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        unit = (await new_unit(client, settings, 1))["id"]
        await set_status(client, settings, unit, "production_suspended", "2026-11-04")
        await set_status(client, settings, unit, "normal", "2026-11-16")
        for day in ("2026-11-02", "2026-11-16", "2026-11-17", "2026-11-18"):
            assert (await put(client, settings, unit, "daily_control", day, DAILY_OK)).status_code == 201
        during = await put(client, settings, unit, "daily_control", "2026-11-05", DAILY_OK)
        assert during.status_code == 201 and during.json()["owed"] is False  # kept, not owed
        assert (await put(client, settings, unit, "weekly_review", "2026-W45", WEEKLY_OK)).status_code == 201

        async def compliance(as_of: str) -> dict[str, Any]:
            response = await client.get(
                f"/enterprises/{unit}/self-checks/compliance?from=2026-11-02&as_of={as_of}",
                headers=identity(settings, WENSHUI),
            )
            assert response.status_code == 200, response.text
            return response.json()

        after = await compliance("2026-11-23")
        assert after["from"] == "2026-11-02" and after["calendar_known"] is True
        assert after["pauses"] == [
            {"status": "production_suspended", "start": "2026-11-04", "end": "2026-11-15"}
        ]
        daily, weekly, monthly_ = after["kinds"]
        assert daily["kind"] == "daily_control"
        # Owed: Mon 2, Tue 3 (before), Mon 16 – Fri 20 (after); the eight working days of the pause are not.
        assert (daily["owed"], daily["done"], daily["missing_total"]) == (7, 4, 3)
        assert [m["period"] for m in daily["missing"]] == ["2026-11-03", "2026-11-19", "2026-11-20"]
        assert daily["overdue_since"] == "2026-11-03"
        assert (daily["paused_periods"], daily["recorded_not_owed"]) == (8, 1)
        # Weeks: W45 operated Mon–Tue (owed, done), W46 wholly paused, W47 operated (owed, missing).
        assert (weekly["owed"], weekly["done"], weekly["paused_periods"]) == (2, 1, 1)
        assert weekly["missing"] == [{"period": "2026-W47", "start": "2026-11-16", "end": "2026-11-22"}]
        assert (monthly_["owed"], monthly_["missing_total"]) == (0, 0)  # November has not ended
        assert after["overdue_since"] == "2026-11-03"

        inside = await compliance("2026-11-12")
        daily, weekly, _ = inside["kinds"]
        assert [m["period"] for m in daily["missing"]] == ["2026-11-03"] and daily["owed"] == 2
        assert (weekly["owed"], weekly["missing_total"]) == (1, 0)
        assert inside["pauses"][0]["end"] == "2026-11-15"

        before = await compliance("2026-11-03")  # the day's own record is not yet due
        assert [k["owed"] for k in before["kinds"]] == [1, 0, 0] and before["overdue_since"] is None

        only_weekly = await client.get(
            f"/enterprises/{unit}/self-checks/compliance?from=2026-11-02&as_of=2026-11-23&kind=weekly_review",
            headers=identity(settings, WENSHUI),
        )
        assert [k["kind"] for k in only_weekly.json()["kinds"]] == ["weekly_review"]
        tomorrow = (TODAY + timedelta(days=1)).isoformat()
        bad = await client.get(
            f"/enterprises/{unit}/self-checks/compliance?as_of={tomorrow}",
            headers=identity(settings, WENSHUI),
        )
        assert bad.status_code == 422 and bad.json()["code"] == "SELF_CHECK_DATE_RANGE_INVALID"


@pytest.mark.asyncio
async def test_nothing_is_accepted_after_deregistration(settings: Settings) -> None:
    async with serving(create_app(settings)) as client:
        unit = (await new_unit(client, settings, 1))["id"]
        await set_status(client, settings, unit, "deregistered", "2026-11-18")
        assert (await put(client, settings, unit, "daily_control", "2026-11-17", DAILY_OK)).status_code == 201
        closed = await put(client, settings, unit, "daily_control", "2026-11-18", DAILY_OK)
        assert closed.status_code == 409 and closed.json()["code"] == "ENTERPRISE_STATUS_FINAL"
        found = await client.get(
            f"/enterprises/{unit}/self-checks/compliance?from=2026-11-16&as_of=2026-11-24",
            headers=identity(settings, WENSHUI),
        )
        daily = found.json()["kinds"][0]
        assert found.json()["final_on"] == "2026-11-18"
        assert (daily["owed"], daily["done"], [m["period"] for m in daily["missing"]]) == (
            2,
            1,
            ["2026-11-16"],
        )


# ------------------------------------------------------------------------------------------------ the duty check


@pytest.mark.asyncio
async def test_the_duty_check_announces_a_unit_falling_behind_once(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        await started(app)
        unit = (await new_unit(client, settings, 1))["id"]
        paused = (await new_unit(client, settings, 2))["id"]
        await set_status(client, settings, paused, "production_suspended", "2026-11-02")
        for created in (unit, paused):
            await entered_on(app, created, D("2026-11-02"))
        db = app.state.db

        # Wed Nov 4: Mon 2 and Tue 3 are missing → daily falls behind (announced); the week has not ended.
        assert await check_duties(db, D("2026-11-04")) == 1
        # Thu Nov 5: still behind on daily: nothing announced again.
        assert await check_duties(db, D("2026-11-05")) == 0
        # Tue Nov 10: the week of Nov 2 has ended unfiled → weekly falls behind (announced); daily still behind.
        assert await check_duties(db, D("2026-11-10")) == 1

        async def record() -> dict[str, Any]:
            got = await client.get(f"/enterprises/{unit}", headers=identity(settings, WENSHUI))
            return got.json()

        assert (await record())["self_check_overdue_since"] == "2026-11-02"
        for day in ("2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06", "2026-11-09"):
            assert (await put(client, settings, unit, "daily_control", day, DAILY_OK)).status_code == 201
        assert (await put(client, settings, unit, "weekly_review", "2026-W45", WEEKLY_OK)).status_code == 201
        # Caught up as of Nov 10: the unit leaves the overdue state without an announcement.
        assert await check_duties(db, D("2026-11-10")) == 0
        assert (await record())["self_check_overdue_since"] is None
        # Thu Nov 12: Nov 10 and 11 unfiled → behind anew → announced again.
        assert await check_duties(db, D("2026-11-12")) == 1
        assert (await record())["self_check_overdue_since"] == "2026-11-10"

        async def announced() -> list[dict[str, Any]]:
            events = await stream_events(settings, OVERDUE_SUBJECT)
            assert len(events) == 3
            return events

        events = await announced()
        assert all(e["enterpriseid"] == unit and e["region"] == "141121" for e in events)
        assert [
            (e["data"]["kind"], e["data"]["overdue_since"], e["data"]["missing_periods"]) for e in events
        ] == [
            ("daily_control", "2026-11-02", 2),
            ("weekly_review", "2026-11-02", 1),
            ("daily_control", "2026-11-10", 2),
        ]
        paused_record = await client.get(f"/enterprises/{paused}", headers=identity(settings, WENSHUI))
        assert paused_record.json()["self_check_overdue_since"] is None

        # Deregistered from Nov 12: owes nothing more and leaves the overdue state.
        await set_status(client, settings, unit, "deregistered", "2026-11-12")
        assert await check_duties(db, D("2026-11-20")) == 0
        assert (await record())["self_check_overdue_since"] is None
        listed = await client.get("/self-checks/compliance", headers=identity(settings, WENSHUI))
        assert listed.json()["items"] == []


@pytest.mark.asyncio
async def test_compliance_per_region_lists_the_units_behind_in_the_jurisdiction(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        await started(app)
        behind = (await new_unit(client, settings, 1))["id"]
        on_time = (await new_unit(client, settings, 2))["id"]
        neighbour = (await new_unit(client, settings, 3, "141122"))["id"]
        for created in (behind, on_time, neighbour):
            await entered_on(app, created, D("2026-11-16"))
        for day in ("2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20", "2026-11-23"):
            assert (await put(client, settings, on_time, "daily_control", day, DAILY_OK)).status_code == 201
        assert (
            await put(client, settings, on_time, "weekly_review", "2026-W47", WEEKLY_OK)
        ).status_code == 201
        for day in ("2026-11-16", "2026-11-17"):
            assert (await put(client, settings, behind, "daily_control", day, DAILY_OK)).status_code == 201
        assert await check_duties(app.state.db, D("2026-11-18")) == 1  # the neighbour's daily
        assert await check_duties(app.state.db, D("2026-11-24")) == 3  # behind's daily; both weeklies

        async def listed(caller: Caller, query: str = "") -> list[dict[str, Any]]:
            response = await client.get(f"/self-checks/compliance{query}", headers=identity(settings, caller))
            assert response.status_code == 200, response.text
            return response.json()["items"]

        wenshui = await listed(WENSHUI)
        assert [u["enterprise_id"] for u in wenshui] == [behind]
        assert wenshui[0]["overdue_since"] == "2026-11-16"  # the earliest of its kinds: the week
        kinds = {k["kind"]: k for k in wenshui[0]["kinds"]}
        assert (
            kinds["daily_control"]["missing"] == 4 and kinds["weekly_review"]["overdue_since"] == "2026-11-16"
        )
        assert [u["enterprise_id"] for u in await listed(JIAOCHENG)] == [neighbour]
        assert {u["enterprise_id"] for u in await listed(SX_PROVINCE)} == {behind, neighbour}
        assert [u["enterprise_id"] for u in await listed(SX_PROVINCE, "?region=141122")] == [neighbour]
        weekly = await listed(SX_PROVINCE, "?kind=weekly_review&limit=1")
        assert len(weekly) == 1 and [k["kind"] for k in weekly[0]["kinds"]] == ["weekly_review"]
        asked = await client.get(
            "/self-checks/compliance?region=141121", headers=identity(settings, JIAOCHENG)
        )
        assert asked.status_code == 403 and asked.json()["code"] == "REGION_OUT_OF_JURISDICTION"

        # Filing every missing day (up to yesterday) takes the unit off the daily list at once.
        day = D("2026-11-18")
        while day < TODAY:
            if is_working_day(day):
                filed = await put(client, settings, behind, "daily_control", day.isoformat(), DAILY_OK)
                assert filed.status_code == 201, filed.text
            day += timedelta(days=1)
        kinds = {k["kind"] for u in await listed(WENSHUI) for k in u["kinds"]}
        assert kinds == {"weekly_review"}

        per_unit = await client.get(
            f"/enterprises/{behind}/self-checks/compliance?as_of=2026-11-24",
            headers=identity(settings, WENSHUI),
        )
        assert per_unit.json()["from"] == "2026-11-16"  # counted from the day it was entered
        assert [k["missing_total"] for k in per_unit.json()["kinds"]] == [0, 1, 0]
