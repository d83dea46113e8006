"""Enforcement cases and complaints over a real database and NATS, and grading counting what they announce."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.common.auth import Caller
from services.common.db import today_cn
from services.common.events import ENTERPRISE_REGISTERED, EnterpriseRegistered, make_event
from services.common.ids import new_id
from services.common.settings import Settings
from services.grading.app import create_app as grading_app
from services.inspection.app import create_app
from services.inspection.models import Inspection, KnownEnterprise
from tests.harness import (
    JIAOCHENG,
    SX_PROVINCE,
    WENSHUI,
    enterprise_caller,
    eventually,
    identity,
    make_uscc,
    publish_events,
    serving,
    stream_events,
)
from tests.inspection import factories

pytestmark = pytest.mark.asyncio

TODAY = today_cn()
BAOSHAN = Caller(username="baoshan", role="regulator", region_code="310113")


async def add_unit(app: FastAPI, n: int, region: str = "141121") -> KnownEnterprise:
    """A retail unit with one key risk point."""
    return await factories.add_unit(
        app,
        n,
        region,
        kind="sales",
        sales_channel="retail",
        risk_points=json.dumps([{"point": "进货查验", "controls": "索证索票"}], ensure_ascii=False),
    )


def days_ago(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def case_body(unit: str, **fields: object) -> dict:
    return {
        "enterprise_id": unit,
        "source": "other",
        "cause": "销售不合格电动自行车充电器",
        "opened_on": days_ago(30),
        **fields,
    }


PENALTY = {
    "closed_on": days_ago(1),
    "penalised": True,
    "warning": True,
    "fine_yuan": 20000,
    "confiscated_yuan": 3500.5,
    "heavier": False,
    "decision_number": "文市监罚〔2026〕12号",
}


async def test_a_case_closes_once_and_announces_its_outcome(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    app, client = served
    unit = await add_unit(app, 1)
    headers = identity(settings, WENSHUI)
    opened = await client.post("/cases", json=case_body(unit.id), headers=headers)
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert (case["status"], case["penalised"], case["region_code"]) == ("open", None, "141121")
    path = f"/cases/{case['id']}/close"

    for change, code in (
        ({"fine_yuan": -1}, "VALIDATION_FAILED"),
        ({"confiscated_yuan": -0.01}, "VALIDATION_FAILED"),
        ({"decision_number": None}, "CASE_OUTCOME_INCONSISTENT"),
        ({"penalised": False}, "CASE_OUTCOME_INCONSISTENT"),
        ({"closed_on": days_ago(31)}, "CASE_DATE_INVALID"),
    ):
        refused = await client.post(path, json={**PENALTY, **change}, headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (422, code), change
    by_unit = await client.post(
        path, json=PENALTY, headers=identity(settings, enterprise_caller(unit.uscc or ""))
    )
    assert by_unit.status_code == 403

    closed = await client.post(path, json=PENALTY, headers=headers)
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["fine_yuan"], closed.json()["penalised"]) == (
        "closed",
        20000,
        True,
    )
    again = await client.post(path, json=PENALTY, headers=headers)
    assert (again.status_code, again.json()["code"]) == (409, "CASE_ALREADY_CLOSED")

    async def announced() -> list[dict]:
        events = await stream_events(settings, "qsr.inspection.case.closed", stream="QSR_INSPECTION")
        assert len(events) == 1
        return events

    [event] = await eventually(announced)
    assert event["enterpriseid"] == unit.id and event["region"] == "141121"
    assert event["data"] == {
        "case_id": case["id"],
        "enterprise_id": unit.id,
        "closed_on": days_ago(1),
        "warning": True,
        "fine_yuan": 20000,
        "confiscated_yuan": 3500.5,
        "heavier": False,
        "penalised": True,
        "cause": "销售不合格电动自行车充电器",
    }

    # A case may close without a penalty (不予处罚); that, too, is announced, with penalised false.
    lenient = (await client.post("/cases", json=case_body(unit.id), headers=headers)).json()
    unpunished = await client.post(
        f"/cases/{lenient['id']}/close",
        json={"closed_on": TODAY.isoformat(), "penalised": False},
        headers=headers,
    )
    assert unpunished.status_code == 200 and unpunished.json()["penalised"] is False
    listed = await client.get("/cases", params={"status": "closed"}, headers=headers)
    assert [c["id"] for c in listed.json()["items"]] == [case["id"], lenient["id"]]
    own = await client.get("/cases", headers=identity(settings, enterprise_caller(unit.uscc or "")))
    assert len(own.json()["items"]) == 2
    assert (await client.get("/cases", headers=identity(settings, enterprise_caller(make_uscc(77))))).json()[
        "items"
    ] == []


async def test_a_case_is_opened_by_a_regulator_on_a_unit_and_source_it_can_see(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    app, client = served
    unit = await add_unit(app, 2)
    other = await add_unit(app, 3)
    headers = identity(settings, WENSHUI)
    complaint = (
        await client.post(
            "/complaints",
            json={
                "enterprise_id": other.id,
                "channel": "12315",
                "received_on": days_ago(3),
                "summary": "充电器起火",
            },
            headers=headers,
        )
    ).json()
    wrong_unit = await client.post(
        "/cases", json=case_body(unit.id, source="complaint", source_id=complaint["id"]), headers=headers
    )
    assert (wrong_unit.status_code, wrong_unit.json()["code"]) == (422, "CASE_SOURCE_UNKNOWN")
    right = await client.post(
        "/cases", json=case_body(other.id, source="complaint", source_id=complaint["id"]), headers=headers
    )
    assert right.status_code == 201 and right.json()["source_id"] == complaint["id"]
    future = await client.post("/cases", json=case_body(unit.id, opened_on="2999-01-01"), headers=headers)
    assert (future.status_code, future.json()["code"]) == (422, "CASE_DATE_INVALID")
    bad_source = await client.post("/cases", json=case_body(unit.id, source="rumour"), headers=headers)
    assert bad_source.status_code == 422
    by_unit = await client.post(
        "/cases", json=case_body(unit.id), headers=identity(settings, enterprise_caller(unit.uscc or ""))
    )
    assert (by_unit.status_code, by_unit.json()["code"]) == (403, "CASE_REGULATOR_ONLY")
    neighbour = await client.post("/cases", json=case_body(unit.id), headers=identity(settings, JIAOCHENG))
    assert (neighbour.status_code, neighbour.json()["code"]) == (404, "ENTERPRISE_NOT_FOUND")


async def test_a_verified_complaint_plans_an_inspection_and_an_unfounded_one_does_nothing(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    app, client = served
    unit = await add_unit(app, 4)
    headers = identity(settings, WENSHUI)

    async def received(summary: str) -> dict:
        response = await client.post(
            "/complaints",
            json={
                "enterprise_id": unit.id,
                "channel": "phone",
                "received_on": days_ago(5),
                "summary": summary,
            },
            headers=headers,
        )
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "received"
        return response.json()

    true_one = await received("购买的电动自行车充电器充电时冒烟")
    false_one = await received("价格过高")

    unfounded = await client.post(
        f"/complaints/{false_one['id']}/verify",
        json={"verified": False, "note": "不属于产品质量问题", "decided_on": days_ago(1)},
        headers=headers,
    )
    assert unfounded.status_code == 200, unfounded.text
    assert (unfounded.json()["status"], unfounded.json()["inspection_id"]) == ("unfounded", None)

    early = await client.post(
        f"/complaints/{true_one['id']}/verify",
        json={"verified": True, "decided_on": days_ago(6)},
        headers=headers,
    )
    assert (early.status_code, early.json()["code"]) == (422, "CASE_DATE_INVALID")
    verified = await client.post(
        f"/complaints/{true_one['id']}/verify",
        json={
            "verified": True,
            "note": "现场核实，库存同批次充电器无3C标志",
            "decided_on": TODAY.isoformat(),
        },
        headers=headers,
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "verified"
    inspection_id = verified.json()["inspection_id"]
    again = await client.post(
        f"/complaints/{true_one['id']}/verify",
        json={"verified": False, "decided_on": TODAY.isoformat()},
        headers=headers,
    )
    assert (again.status_code, again.json()["code"]) == (409, "COMPLAINT_ALREADY_DECIDED")

    async with app.state.db.session() as session:
        inspections = (await session.execute(select(Inspection))).scalars().all()
    assert [i.id for i in inspections] == [inspection_id]  # none for the unfounded one
    [inspection] = inspections
    assert (inspection.status, inspection.trigger, inspection.trigger_ref) == (
        "planned",
        "complaint",
        true_one["id"],
    )
    assert (inspection.enterprise_id, inspection.region_code) == (unit.id, "141121")
    assert json.loads(inspection.inspectors) == ["wenshui"]

    async def announced() -> list[dict]:
        events = await stream_events(settings, "qsr.inspection.complaint.verified", stream="QSR_INSPECTION")
        assert len(events) == 1
        return events

    [event] = await eventually(announced)
    assert event["data"] == {
        "complaint_id": true_one["id"],
        "enterprise_id": unit.id,
        "verified_on": TODAY.isoformat(),
        "inspection_id": inspection_id,
    }
    by_status = await client.get("/complaints", params={"status": "verified"}, headers=headers)
    assert [c["id"] for c in by_status.json()["items"]] == [true_one["id"]]


async def test_complaints_are_for_regulators_only(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    app, client = served
    unit = await add_unit(app, 5)
    headers = identity(settings, WENSHUI)
    complaint = (
        await client.post(
            "/complaints",
            json={
                "enterprise_id": unit.id,
                "channel": "online",
                "received_on": days_ago(1),
                "summary": "无中文标识",
            },
            headers=headers,
        )
    ).json()
    own = identity(settings, enterprise_caller(unit.uscc or ""))
    for method, path, body in (
        ("GET", "/complaints", None),
        ("GET", f"/complaints/{complaint['id']}", None),
        (
            "POST",
            f"/complaints/{complaint['id']}/verify",
            {"verified": False, "decided_on": TODAY.isoformat()},
        ),
        (
            "POST",
            "/complaints",
            {"enterprise_id": unit.id, "channel": "online", "received_on": days_ago(1), "summary": "x"},
        ),
    ):
        response = await client.request(method, path, json=body, headers=own)
        assert response.status_code == 403, (path, response.text)
    bad_channel = await client.post(
        "/complaints",
        json={"enterprise_id": unit.id, "channel": "pigeon", "received_on": days_ago(1), "summary": "x"},
        headers=headers,
    )
    assert bad_channel.status_code == 422


async def test_the_neighbour_county_sees_no_case_or_complaint(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    app, client = served
    unit = await add_unit(app, 6)
    headers = identity(settings, WENSHUI)
    case = (await client.post("/cases", json=case_body(unit.id), headers=headers)).json()
    complaint = (
        await client.post(
            "/complaints",
            json={
                "enterprise_id": unit.id,
                "channel": "letter",
                "received_on": days_ago(2),
                "summary": "虚假标注",
            },
            headers=headers,
        )
    ).json()
    neighbour = identity(settings, JIAOCHENG)
    province = identity(settings, SX_PROVINCE)
    for path in (f"/cases/{case['id']}", f"/complaints/{complaint['id']}"):
        assert (await client.get(path, headers=neighbour)).status_code == 404
        assert (await client.get(path, headers=province)).status_code == 200
    for path in ("/cases", "/complaints"):
        assert (await client.get(path, headers=neighbour)).json()["items"] == []
        assert len((await client.get(path, headers=province)).json()["items"]) == 1
    closing = await client.post(f"/cases/{case['id']}/close", json=PENALTY, headers=neighbour)
    assert closing.status_code == 404
    deciding = await client.post(
        f"/complaints/{complaint['id']}/verify",
        json={"verified": True, "decided_on": TODAY.isoformat()},
        headers=neighbour,
    )
    assert deciding.status_code == 404
    received = await client.post(
        "/complaints",
        json={"enterprise_id": unit.id, "channel": "letter", "received_on": days_ago(2), "summary": "x"},
        headers=neighbour,
    )
    assert received.status_code == 404
    assert (await client.get(f"/cases/{case['id']}", headers=headers)).json()["status"] == "open"
    assert (await client.get(f"/complaints/{complaint['id']}", headers=headers)).json()[
        "status"
    ] == "received"


def registered(n: int, region: str) -> EnterpriseRegistered:
    return EnterpriseRegistered(
        enterprise_id=new_id(),
        uscc=make_uscc(n, region),
        name=f"测试单位{n}",
        kind="production",
        sales_channel=None,
        region_code=region,
        employees=30,
        revenue_wan_yuan=1800,
        entry_reason="enforcement",
        operating_status="normal",
    )


async def test_grading_counts_a_penalty_and_a_verified_complaint(settings: Settings) -> None:
    """Baoshan (Shanghai pack): a penalty within a year → key and locked; a case closed without one changes
    nothing. Wenshui (Shanxi pack): a verified complaint is a larger risk → key."""
    async with AsyncExitStack() as stack:
        inspection = await stack.enter_async_context(serving(create_app(settings)))
        grading = await stack.enter_async_context(serving(grading_app(settings)))
        lenient, punished, complained = (
            registered(11, "310113"),
            registered(12, "310113"),
            registered(13, "141121"),
        )
        await publish_events(
            settings,
            *(
                make_event(
                    ENTERPRISE_REGISTERED, unit, region=unit.region_code, enterprise_id=unit.enterprise_id
                )
                for unit in (lenient, punished, complained)
            ),
        )

        async def decision(unit: EnterpriseRegistered, caller: Caller) -> dict:
            response = await grading.get(
                f"/enterprises/{unit.enterprise_id}", headers=identity(settings, caller)
            )
            assert response.status_code == 200, response.text
            return response.json()["decision"]

        async def open_case(unit: EnterpriseRegistered) -> str:
            response = await inspection.post(
                "/cases", json=case_body(unit.enterprise_id), headers=identity(settings, BAOSHAN)
            )
            assert response.status_code == 201, response.text  # once inspection has learnt the unit
            return response.json()["id"]

        async def routine_everywhere() -> None:
            for unit, caller in ((lenient, BAOSHAN), (punished, BAOSHAN), (complained, WENSHUI)):
                assert (await decision(unit, caller))["supervision_class"] == "routine"

        await eventually(routine_everywhere)
        lenient_case = await eventually(lambda: open_case(lenient))
        punished_case = await eventually(lambda: open_case(punished))
        baoshan = identity(settings, BAOSHAN)
        closed = await inspection.post(
            f"/cases/{lenient_case}/close",
            json={"closed_on": days_ago(1), "penalised": False},
            headers=baoshan,
        )
        assert closed.status_code == 200, closed.text
        closed = await inspection.post(
            f"/cases/{punished_case}/close",
            json={**PENALTY, "heavier": True, "decision_number": "沪市监宝罚〔2026〕3号"},
            headers=baoshan,
        )
        assert closed.status_code == 200, closed.text

        async def punished_is_key() -> dict:
            found = await decision(punished, BAOSHAN)
            assert found["supervision_class"] == "key"
            return found

        found = await eventually(punished_is_key)
        assert found["locked"] is True
        assert [r["rule"] for r in found["reasons"]] == ["key.penalised_1y"]
        # The case closed without a penalty was published first on the same stream, so it has been handled.
        assert (await decision(lenient, BAOSHAN))["supervision_class"] == "routine"

        wenshui = identity(settings, WENSHUI)

        async def complaint_received() -> str:
            response = await inspection.post(
                "/complaints",
                json={
                    "enterprise_id": complained.enterprise_id,
                    "channel": "12315",
                    "received_on": days_ago(4),
                    "summary": "燃气灶熄火保护失灵",
                },
                headers=wenshui,
            )
            assert response.status_code == 201, response.text
            return response.json()["id"]

        complaint = await eventually(complaint_received)
        verified = await inspection.post(
            f"/complaints/{complaint}/verify",
            json={"verified": True, "note": "属实", "decided_on": TODAY.isoformat()},
            headers=wenshui,
        )
        assert verified.status_code == 200, verified.text

        async def complained_is_key() -> dict:
            found = await decision(complained, WENSHUI)
            assert found["supervision_class"] == "key"
            return found

        found = await eventually(complained_is_key)
        assert [r["rule"] for r in found["reasons"]] == ["key.larger_risk_1y"]
