"""Follow-up of failures over a real database and NATS: the re-test window, rectification orders, evidence,
re-checks and escalation, and rectifications that run past their deadline."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.common.db import today_cn, utcnow
from services.common.events import ENTERPRISE_REGISTERED, EnterpriseRegistered, make_event
from services.common.ids import new_id
from services.common.policy import PACKS_DIR
from services.common.settings import Settings
from services.inspection.app import create_app
from services.inspection.followup import detect_overdue
from services.inspection.models import Finding, Rectification
from tests.harness import (
    JIAOCHENG,
    SX_PROVINCE,
    WENSHUI,
    enterprise_caller,
    eventually,
    identity,
    make_settings,
    make_uscc,
    publish_events,
    serving,
    stream_events,
)
from tests.inspection.factories import add_unit

pytestmark = pytest.mark.asyncio

TODAY = today_cn()


async def failed_check(
    client: httpx.AsyncClient, settings: Settings, unit: str, *, sampled_days_ago: int = 30
) -> dict:
    body = {
        "enterprise_id": unit,
        "product": "瓶装液化石油气调压器",
        "batch": "TY-2026-01",
        "verdict": "failed",
        "failed_items": ["关闭压力"],
        "sampled_on": (TODAY - timedelta(days=sampled_days_ago)).isoformat(),
        "kind": "spot_check",
        "category_code": "lpg_regulator",
        "standard": "GB 35844-2018",
        "sampled_at": "producer",
        "lab": "山西省产品质量监督检验研究院",
    }
    response = await client.post("/spot-checks", json=body, headers=identity(settings, WENSHUI))
    assert response.status_code == 201, response.text
    return response.json()


def days_ago(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def later(n: int) -> str:
    return (TODAY + timedelta(days=n)).isoformat()


async def _followed_up(
    client: httpx.AsyncClient, settings: Settings, unit: str, deadline_in: int = 15
) -> tuple[dict, dict]:
    """A failed spot check of ``unit`` and the follow-up Wenshui orders for it (finding and rectification)."""
    check = await failed_check(client, settings, unit)
    response = await client.post(
        f"/spot-checks/{check['id']}/follow-up",
        json={"deadline": later(deadline_in), "requirement": "整改"},
        headers=identity(settings, WENSHUI),
    )
    assert response.status_code == 201, response.text
    return check, response.json()


async def _rectification_of(
    client: httpx.AsyncClient, settings: Settings, unit: str, deadline_in: int
) -> dict:
    return (await _followed_up(client, settings, unit, deadline_in))[1]["rectification"]


async def test_spot_check_sampling_fields_are_kept_and_checked(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    app, client = served
    unit = await add_unit(app, 1)
    created = await failed_check(client, settings, unit.id)
    assert (created["category_code"], created["sampled_at"], created["kind"]) == (
        "lpg_regulator",
        "producer",
        "spot_check",
    )
    assert created["standard"] == "GB 35844-2018" and created["follow_up_status"] is None
    headers = identity(settings, WENSHUI)
    body = {
        "enterprise_id": unit.id,
        "product": "电动自行车",
        "batch": "B1",
        "verdict": "passed",
        "sampled_on": TODAY.isoformat(),
    }
    unknown = await client.post("/spot-checks", json={**body, "category_code": "spaceship"}, headers=headers)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "SPOT_CHECK_CATEGORY_UNKNOWN")
    where = await client.post("/spot-checks", json={**body, "sampled_at": "warehouse"}, headers=headers)
    assert where.status_code == 422 and where.json()["errors"][0]["field"] == "sampled_at"
    monitoring = await client.post("/spot-checks", json={**body, "kind": "risk_monitoring"}, headers=headers)
    assert monitoring.status_code == 201 and monitoring.json()["kind"] == "risk_monitoring"
    nothing_to_follow = await client.post(
        f"/spot-checks/{monitoring.json()['id']}/follow-up",
        json={"deadline": later(10), "requirement": "整改"},
        headers=headers,
    )
    assert (nothing_to_follow.status_code, nothing_to_follow.json()["code"]) == (409, "FOLLOW_UP_NOT_NEEDED")
    own = await client.post(
        "/spot-checks", json=body, headers=identity(settings, enterprise_caller(unit.uscc or ""))
    )
    assert (own.status_code, own.json()["code"]) == (403, "SPOT_CHECK_REGULATOR_ONLY")


async def test_a_retest_may_be_applied_for_within_15_days_of_receiving_the_result(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    app, client = served
    unit = await add_unit(app, 2)
    headers = identity(settings, WENSHUI)
    late = await failed_check(client, settings, unit.id)
    in_time = await failed_check(client, settings, unit.id)

    apply = {"applied_on": TODAY.isoformat()}
    early = await client.post(f"/spot-checks/{late['id']}/retest-application", json=apply, headers=headers)
    assert (early.status_code, early.json()["code"]) == (409, "SPOT_CHECK_RESULT_NOT_RECEIVED")

    # Received 25 days ago: the window (the day of receipt not counted, a last day off moved to the next working
    # day) ended at least two days ago. Received 15 days ago: it ends today or later.
    for check, received in ((late, days_ago(25)), (in_time, days_ago(15))):
        response = await client.post(
            f"/spot-checks/{check['id']}/result-received", json={"received_on": received}, headers=headers
        )
        assert response.status_code == 200 and response.json()["result_received_on"] == received
    moved = await client.post(
        f"/spot-checks/{late['id']}/result-received", json={"received_on": days_ago(3)}, headers=headers
    )
    assert (moved.status_code, moved.json()["code"]) == (409, "SPOT_CHECK_RESULT_RECEIPT_RECORDED")

    closed = await client.post(f"/spot-checks/{late['id']}/retest-application", json=apply, headers=headers)
    assert (closed.status_code, closed.json()["code"]) == (409, "SPOT_CHECK_RETEST_WINDOW_CLOSED")
    assert days_ago(25) < closed.json()["last_day"] < TODAY.isoformat()
    assert (await client.get(f"/spot-checks/{late['id']}", headers=headers)).json()[
        "retest_applied_on"
    ] is None
    refused = await client.post(
        f"/spot-checks/{late['id']}/retest",
        json={"result": "overturned", "decided_on": TODAY.isoformat()},
        headers=headers,
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "SPOT_CHECK_RETEST_NOT_APPLIED")

    # The unit applies itself, through its own account, on the last day.
    other = enterprise_caller(make_uscc(999))
    path = f"/spot-checks/{in_time['id']}/retest-application"
    assert (await client.post(path, json=apply, headers=identity(settings, other))).status_code == 404
    assert (await client.post(path, json=apply, headers=identity(settings, JIAOCHENG))).status_code == 404
    applied = await client.post(
        path, json=apply, headers=identity(settings, enterprise_caller(unit.uscc or ""))
    )
    assert applied.status_code == 200 and applied.json()["retest_applied_on"] == TODAY.isoformat()
    # While the re-test is undecided no follow-up starts; the unit cannot decide its own re-test.
    pending = await client.post(
        f"/spot-checks/{in_time['id']}/follow-up",
        json={"deadline": later(10), "requirement": "整改"},
        headers=headers,
    )
    assert (pending.status_code, pending.json()["code"]) == (409, "SPOT_CHECK_RETEST_PENDING")
    retest = {"result": "upheld", "decided_on": TODAY.isoformat()}
    by_unit = await client.post(
        f"/spot-checks/{in_time['id']}/retest",
        json=retest,
        headers=identity(settings, enterprise_caller(unit.uscc or "")),
    )
    assert by_unit.status_code == 403
    decided = await client.post(f"/spot-checks/{in_time['id']}/retest", json=retest, headers=headers)
    assert decided.status_code == 200 and decided.json()["retest_result"] == "upheld"


async def test_a_retest_applied_for_after_the_national_day_holidays_is_in_time(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    app, client = served
    unit = await add_unit(app, 4)
    headers = identity(settings, WENSHUI)
    sampled_days_ago = (TODAY - date(2025, 9, 1)).days
    checks = [
        await failed_check(client, settings, unit.id, sampled_days_ago=sampled_days_ago) for _ in range(2)
    ]
    for check in checks:
        received = await client.post(
            f"/spot-checks/{check['id']}/result-received", json={"received_on": "2025-09-16"}, headers=headers
        )
        assert received.status_code == 200, received.text
    # Day 15 (Oct 1) falls in the National Day holidays: the unit may still apply on Oct 9, not on Oct 10.
    on_time = await client.post(
        f"/spot-checks/{checks[0]['id']}/retest-application",
        json={"applied_on": "2025-10-09"},
        headers=headers,
    )
    assert on_time.status_code == 200 and on_time.json()["retest_applied_on"] == "2025-10-09"
    late = await client.post(
        f"/spot-checks/{checks[1]['id']}/retest-application",
        json={"applied_on": "2025-10-10"},
        headers=headers,
    )
    assert (late.status_code, late.json()["code"]) == (409, "SPOT_CHECK_RETEST_WINDOW_CLOSED")
    assert late.json()["last_day"] == "2025-10-09"


async def test_the_retest_window_is_the_packs(tmp_path: Path, nats_server, database_url: str) -> None:  # type: ignore[no-untyped-def]
    packs = tmp_path / "packs"
    shutil.copytree(PACKS_DIR, packs)
    shanxi = packs / "shanxi.yaml"
    shanxi.write_text(
        shanxi.read_text(encoding="utf-8")
        + "deadlines:\n  inspector_change_working_days: 5\n  retest_application_days: 20\n",
        encoding="utf-8",
    )
    settings = make_settings(nats_server, database_url, tmp_path, grading_packs_dir=packs)
    app = create_app(settings)
    async with serving(app) as client:
        unit = await add_unit(app, 3)
        check = await failed_check(client, settings, unit.id)
        headers = identity(settings, WENSHUI)
        await client.post(
            f"/spot-checks/{check['id']}/result-received", json={"received_on": days_ago(20)}, headers=headers
        )
        applied = await client.post(
            f"/spot-checks/{check['id']}/retest-application",
            json={"applied_on": TODAY.isoformat()},
            headers=headers,
        )
        assert applied.status_code == 200, applied.text


async def test_failed_spot_check_follow_up_rectification_evidence_and_verification_close_it(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    _, client = served
    uscc = make_uscc(4)
    registered = EnterpriseRegistered(
        enterprise_id=new_id(),
        uscc=uscc,
        name="文水县燃气具厂",
        kind="production",
        sales_channel=None,
        region_code="141121",
        employees=40,
        revenue_wan_yuan=3000,
        entry_reason="spot_check",
        operating_status="normal",
    )
    unit = registered.enterprise_id
    await publish_events(
        settings, make_event(ENTERPRISE_REGISTERED, registered, region="141121", enterprise_id=unit)
    )

    async def known() -> dict:
        response = await client.post(
            "/spot-checks",
            json={
                "enterprise_id": unit,
                "product": "家用燃气灶",
                "batch": "ZJ-7",
                "verdict": "failed",
                "failed_items": ["熄火保护装置", "燃气泄漏"],
                "sampled_on": days_ago(5),
            },
            headers=identity(settings, WENSHUI),
        )
        assert response.status_code == 201, response.text
        return response.json()

    check = await eventually(known)
    headers = identity(settings, WENSHUI)
    order = {"deadline": later(30), "requirement": "停止销售该批次产品，查明原因并整改"}

    too_soon = await client.post(
        f"/spot-checks/{check['id']}/follow-up",
        json={**order, "deadline": TODAY.isoformat()},
        headers=headers,
    )
    assert (too_soon.status_code, too_soon.json()["code"]) == (422, "RECTIFICATION_DEADLINE_INVALID")
    started = await client.post(f"/spot-checks/{check['id']}/follow-up", json=order, headers=headers)
    assert started.status_code == 201, started.text
    follow_up = started.json()
    finding, rectification = follow_up["finding"], follow_up["rectification"]
    assert follow_up["spot_check"]["follow_up_status"] == "ordered"
    assert (finding["source"], finding["source_id"], finding["status"]) == (
        "spot_check",
        check["id"],
        "rectifying",
    )
    assert "熄火保护装置" in finding["description"]
    assert (rectification["status"], rectification["deadline"], rectification["overdue"]) == (
        "ordered",
        later(30),
        False,
    )
    again = await client.post(f"/spot-checks/{check['id']}/follow-up", json=order, headers=headers)
    assert (again.status_code, again.json()["code"]) == (409, "FOLLOW_UP_ALREADY_STARTED")

    listed = await client.get("/findings", params={"enterprise_id": unit}, headers=headers)
    assert [f["id"] for f in listed.json()["items"]] == [finding["id"]]
    mine = await client.get("/rectifications", headers=identity(settings, enterprise_caller(uscc)))
    assert [r["id"] for r in mine.json()["items"]] == [rectification["id"]]

    evidence = {"note": "已召回该批次 120 台，更换熄火保护装置供应商"}
    path = f"/rectifications/{rectification['id']}"
    stranger = await client.post(
        f"{path}/evidence", json=evidence, headers=identity(settings, enterprise_caller(make_uscc(5)))
    )
    assert stranger.status_code == 404
    unknown_file = await client.post(
        f"{path}/evidence",
        json={**evidence, "evidence_file_ids": ["no-such-file"]},
        headers=identity(settings, enterprise_caller(uscc)),
    )
    assert (unknown_file.status_code, unknown_file.json()["code"]) == (
        422,
        "RECTIFICATION_EVIDENCE_FILE_UNKNOWN",
    )
    submitted = await client.post(
        f"{path}/evidence", json=evidence, headers=identity(settings, enterprise_caller(uscc))
    )
    assert submitted.status_code == 200, submitted.text
    assert (submitted.json()["status"], submitted.json()["submitted_on"]) == ("submitted", TODAY.isoformat())

    self_verified = await client.post(
        f"{path}/verify", json={"passed": True}, headers=identity(settings, enterprise_caller(uscc))
    )
    assert (self_verified.status_code, self_verified.json()["code"]) == (403, "FOLLOW_UP_REGULATOR_ONLY")
    verified = await client.post(
        f"{path}/verify", json={"passed": True, "note": "现场复查，整改到位"}, headers=headers
    )
    assert verified.status_code == 200, verified.text
    assert (verified.json()["status"], verified.json()["verified_by"]) == ("verified", "wenshui")
    closed = (await client.get(f"/findings/{finding['id']}", headers=headers)).json()
    assert closed["status"] == "closed" and closed["rectifications"][0]["status"] == "verified"
    assert (await client.get(f"/spot-checks/{check['id']}", headers=headers)).json()[
        "follow_up_status"
    ] == "closed"
    late_evidence = await client.post(
        f"{path}/evidence", json=evidence, headers=identity(settings, enterprise_caller(uscc))
    )
    assert (late_evidence.status_code, late_evidence.json()["code"]) == (409, "RECTIFICATION_CLOSED")


async def test_a_failed_recheck_escalates_and_is_announced(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    app, client = served
    unit = await add_unit(app, 6)
    headers = identity(settings, WENSHUI)
    check, follow_up = await _followed_up(client, settings, unit.id)
    path = f"/rectifications/{follow_up['rectification']['id']}"
    no_reason = await client.post(f"{path}/verify", json={"passed": False}, headers=headers)
    assert (no_reason.status_code, no_reason.json()["code"]) == (422, "RECTIFICATION_REASON_REQUIRED")
    failed = await client.post(
        f"{path}/verify", json={"passed": False, "note": "复查抽样仍不合格"}, headers=headers
    )
    assert failed.status_code == 200 and failed.json()["status"] == "escalated"
    finding = (await client.get(f"/findings/{follow_up['finding']['id']}", headers=headers)).json()
    assert finding["status"] == "escalated"
    spot_check = (await client.get(f"/spot-checks/{check['id']}", headers=headers)).json()
    assert spot_check["follow_up_status"] == "escalated"
    twice = await client.post(f"{path}/verify", json={"passed": True}, headers=headers)
    assert (twice.status_code, twice.json()["code"]) == (409, "RECTIFICATION_CLOSED")

    async def announced() -> list[dict]:
        events = await stream_events(settings, "qsr.inspection.follow_up.escalated", stream="QSR_INSPECTION")
        assert len(events) == 1
        return events

    [event] = await eventually(announced)
    assert event["enterpriseid"] == unit.id and event["region"] == "141121"
    assert event["data"]["finding_id"] == finding["id"]
    assert (event["data"]["source"], event["data"]["source_id"]) == ("spot_check", check["id"])
    assert "复查抽样仍不合格" in event["data"]["reason"]

    # 立案查处 may follow from the escalated rectification.
    case = await client.post(
        "/cases",
        json={
            "enterprise_id": unit.id,
            "source": "rectification",
            "source_id": follow_up["rectification"]["id"],
            "cause": "整改复查仍不合格",
            "opened_on": TODAY.isoformat(),
        },
        headers=headers,
    )
    assert case.status_code == 201, case.text


async def test_an_overturning_retest_withdraws_the_follow_up(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    app, client = served
    unit = await add_unit(app, 7)
    headers = identity(settings, WENSHUI)
    check, follow_up = await _followed_up(client, settings, unit.id)
    path = f"/spot-checks/{check['id']}"
    await client.post(f"{path}/result-received", json={"received_on": days_ago(2)}, headers=headers)
    await client.post(f"{path}/retest-application", json={"applied_on": days_ago(1)}, headers=headers)
    overturned = await client.post(
        f"{path}/retest", json={"result": "overturned", "decided_on": TODAY.isoformat()}, headers=headers
    )
    assert overturned.status_code == 200 and overturned.json()["follow_up_status"] == "withdrawn"
    rectification = (
        await client.get(f"/rectifications/{follow_up['rectification']['id']}", headers=headers)
    ).json()
    assert rectification["status"] == "withdrawn"
    assert (await client.get(f"/findings/{follow_up['finding']['id']}", headers=headers)).json()[
        "status"
    ] == "closed"


async def test_overdue_rectifications_are_detected_once_across_a_simulated_clock(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    app, client = served
    unit = await add_unit(app, 8)
    headers = identity(settings, WENSHUI)
    first = await _rectification_of(client, settings, unit.id, 5)
    second = await _rectification_of(client, settings, unit.id, 8)
    done = await _rectification_of(client, settings, unit.id, 5)
    verified = await client.post(
        f"/rectifications/{done['id']}/verify", json={"passed": True, "note": "到位"}, headers=headers
    )
    assert verified.status_code == 200
    db = app.state.db

    assert await detect_overdue(db, TODAY + timedelta(days=5)) == 0  # the deadline day itself is in time
    assert await detect_overdue(db, TODAY + timedelta(days=6)) == 1
    assert await detect_overdue(db, TODAY + timedelta(days=7)) == 0  # announced once only
    assert await detect_overdue(db, TODAY + timedelta(days=30)) == 1  # the second one's deadline passed too
    assert await detect_overdue(db, TODAY + timedelta(days=60)) == 0

    async def announced() -> list[dict]:
        events = await stream_events(
            settings, "qsr.inspection.rectification.overdue", stream="QSR_INSPECTION"
        )
        assert len(events) == 2
        return events

    events = await eventually(announced)
    assert [e["data"]["rectification_id"] for e in events] == [first["id"], second["id"]]
    assert events[0]["data"]["overdue_since"] == later(6)
    assert events[1]["data"]["overdue_since"] == later(9)

    listed = await client.get("/rectifications", params={"overdue": "true"}, headers=headers)
    assert [(r["id"], r["overdue"]) for r in listed.json()["items"]] == [
        (first["id"], True),
        (second["id"], True),
    ]
    in_time = await client.get("/rectifications", params={"overdue": "false"}, headers=headers)
    assert [r["id"] for r in in_time.json()["items"]] == [done["id"]]


async def test_the_overdue_job_marks_rectifications_past_their_deadline(
    tmp_path: Path,
    nats_server,
    database_url: str,  # type: ignore[no-untyped-def]
) -> None:
    settings = make_settings(
        nats_server, database_url, tmp_path, inspection_overdue_check_interval_seconds=0.2
    )
    app = create_app(settings)
    async with serving(app) as client:
        unit = await add_unit(app, 9)
        now = utcnow()
        finding = Finding(
            id=new_id(),
            enterprise_id=unit.id,
            region_code=unit.region_code,
            source="inspection",
            source_id=new_id(),
            item_id="2.3",
            description="未按规定建立每周排查治理报告",
            status="rectifying",
            created_at=now,
        )
        late = Rectification(
            id=new_id(),
            finding_id=finding.id,
            enterprise_id=unit.id,
            region_code=unit.region_code,
            ordered_on=TODAY - timedelta(days=20),
            deadline=TODAY - timedelta(days=3),
            requirement="建立周排查制度",
            status="submitted",
            ordered_by="wenshui",
            created_at=now,
            updated_at=now,
        )
        async with app.state.db.transaction() as session:
            session.add(finding)
            await session.flush()
            session.add(late)

        async def marked() -> None:
            async with app.state.db.session() as session:
                row = (await session.execute(select(Rectification))).scalar_one()
            assert row.overdue_since == TODAY - timedelta(days=2)

        await eventually(marked)
        runs = app.state.overdue_checks

        async def ran_again() -> None:
            assert app.state.overdue_checks >= runs + 2

        await eventually(ran_again)
        events = await stream_events(
            settings, "qsr.inspection.rectification.overdue", stream="QSR_INSPECTION"
        )
        assert [e["data"]["rectification_id"] for e in events] == [late.id]
        listed = await client.get(
            "/rectifications", params={"overdue": "true"}, headers=identity(settings, WENSHUI)
        )
        assert [r["id"] for r in listed.json()["items"]] == [late.id]


async def test_a_finding_from_an_inspection_gets_one_rectification_order(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    app, client = served
    unit = await add_unit(app, 10)
    finding = Finding(
        id=new_id(),
        enterprise_id=unit.id,
        region_code=unit.region_code,
        source="inspection",
        source_id=new_id(),
        item_id="1.3",
        description="未配备质量安全员",
        status="open",
        created_at=utcnow(),
    )
    async with app.state.db.transaction() as session:
        session.add(finding)
    headers = identity(settings, WENSHUI)
    order = {"deadline": later(10), "requirement": "配备质量安全员并报备"}
    path = f"/findings/{finding.id}/rectification"
    by_unit = await client.post(
        path, json=order, headers=identity(settings, enterprise_caller(unit.uscc or ""))
    )
    assert by_unit.status_code == 403
    ordered = await client.post(path, json=order, headers=headers)
    assert ordered.status_code == 201 and ordered.json()["requirement"] == order["requirement"]
    twice = await client.post(path, json=order, headers=headers)
    assert (twice.status_code, twice.json()["code"]) == (409, "FINDING_NOT_OPEN")
    rectifying = await client.get("/findings", params={"status": "rectifying"}, headers=headers)
    assert [f["id"] for f in rectifying.json()["items"]] == [finding.id]
    assert (await client.get("/findings", params={"status": "open"}, headers=headers)).json()["items"] == []


async def test_the_neighbour_county_sees_none_of_it(
    served: tuple[FastAPI, httpx.AsyncClient], settings: Settings
) -> None:
    app, client = served
    unit = await add_unit(app, 11)
    check, follow_up = await _followed_up(client, settings, unit.id, 10)
    headers = identity(settings, WENSHUI)
    finding, rectification = follow_up["finding"]["id"], follow_up["rectification"]["id"]
    neighbour = identity(settings, JIAOCHENG)
    for path, body in (
        (f"/spot-checks/{check['id']}/result-received", {"received_on": TODAY.isoformat()}),
        (f"/spot-checks/{check['id']}/retest-application", {"applied_on": TODAY.isoformat()}),
        (f"/spot-checks/{check['id']}/follow-up", {"deadline": later(10), "requirement": "整改"}),
        (f"/findings/{finding}/rectification", {"deadline": later(10), "requirement": "整改"}),
        (f"/rectifications/{rectification}/evidence", {"note": "已整改"}),
        (f"/rectifications/{rectification}/verify", {"passed": True}),
    ):
        response = await client.post(path, json=body, headers=neighbour)
        assert response.status_code == 404, (path, response.text)
    for path in (f"/findings/{finding}", f"/rectifications/{rectification}"):
        assert (await client.get(path, headers=neighbour)).status_code == 404
        assert (await client.get(path, headers=identity(settings, SX_PROVINCE))).status_code == 200
    for path in ("/findings", "/rectifications", "/rectifications?overdue=false"):
        assert (await client.get(path, headers=neighbour)).json()["items"] == []
        assert len((await client.get(path, headers=identity(settings, SX_PROVINCE))).json()["items"]) == 1
    # Nothing the neighbour tried changed anything.
    assert (await client.get(f"/rectifications/{rectification}", headers=headers)).json()[
        "status"
    ] == "ordered"
    assert (await client.get(f"/spot-checks/{check['id']}", headers=headers)).json()[
        "result_received_on"
    ] is None
