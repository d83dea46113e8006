"""督查: an upper bureau audits a lower one item by item, reports once every item is answered, and the report
reaches NATS; the audited bureau reads but cannot edit, a neighbour sees nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from services.common.auth import Caller
from services.common.settings import Settings
from services.inspection.app import create_app
from tests.harness import (
    JIAOCHENG,
    SX_PROVINCE,
    WENSHUI,
    eventually,
    identity,
    make_uscc,
    serving,
    stream_events,
)

pytestmark = pytest.mark.asyncio

LVLIANG = Caller(username="lvliang", role="regulator", region_code="141100")
LINFEN = Caller(username="linfen", role="regulator", region_code="141000")
NANJING = Caller(username="nanjing", role="regulator", region_code="320100")
STATION = Caller(username="station", role="regulator", region_code="141121001")
UNIT = Caller(username="unit", role="enterprise", region_code="141121", uscc=make_uscc(1))

ITEM_IDS = [
    *("1.1", "1.2"),
    *("2.1", "2.2", "2.3"),
    *("3.1", "3.2"),
    *("4.1", "4.2", "4.3"),
    *("5.1", "5.2"),
    *("6.1", "6.2"),
    *("7.1", "7.2", "7.3"),
]


@pytest_asyncio.fixture
async def inspection(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_app(settings)) as client:
        yield client


async def create(
    client: httpx.AsyncClient,
    settings: Settings,
    caller: Caller,
    region: str,
    period: str = "2025-H2",
    **extra,
) -> httpx.Response:
    return await client.post(
        "/oversight-audits",
        json={"audited_region": region, "period": period, **extra},
        headers=identity(settings, caller),
    )


async def answer(
    client: httpx.AsyncClient, settings: Settings, caller: Caller, audit: str, item: str, **body
) -> httpx.Response:
    return await client.put(
        f"/oversight-audits/{audit}/items/{item}",
        json={"implemented": True, **body},
        headers=identity(settings, caller),
    )


async def test_an_audit_from_draft_to_report(settings: Settings, inspection: httpx.AsyncClient) -> None:
    city = identity(settings, LVLIANG)
    created = await create(inspection, settings, LVLIANG, "141121")
    assert created.status_code == 201, created.text
    audit = created.json()
    assert (audit["status"], audit["template"], audit["template_version"]) == (
        "draft",
        "oversight-shanghai",
        "2024.1",
    )
    assert (audit["auditor_name"], audit["audited_name"]) == ("吕梁市", "文水县")
    assert [i["id"] for i in audit["items"]] == ITEM_IDS
    assert audit["items"][-1] == {
        "id": "7.3",
        "section": "监管督查信息平台落实情况",
        "text": "制定督查计划，对下级市场监管部门开展督查",
        "implemented": None,
        "highlights": "",
        "note": "",
    }
    assert (audit["implemented"], audit["answered"], audit["total"], audit["editable"]) == (0, 0, 17, True)
    audit_id = audit["id"]

    again = await create(inspection, settings, LVLIANG, "141121")
    assert (again.status_code, again.json()["code"], again.json()["audit_id"]) == (
        409,
        "OVERSIGHT_AUDIT_EXISTS",
        audit_id,
    )

    # Fill in every item but 7.3; 4.3 was not carried out; 6.2 is taken back to "not decided".
    for item in ITEM_IDS[:-1]:
        assert (await answer(inspection, settings, LVLIANG, audit_id, item)).status_code == 200
    not_done = await answer(
        inspection, settings, LVLIANG, audit_id, "4.3", implemented=False, note="本年度未组织抽查考核"
    )
    assert not_done.status_code == 200
    highlight = await answer(
        inspection, settings, LVLIANG, audit_id, "2.1", highlights="  平台录入率100%  ", note="现场演示"
    )
    item = next(i for i in highlight.json()["items"] if i["id"] == "2.1")
    assert (item["implemented"], item["highlights"], item["note"]) == (True, "平台录入率100%", "现场演示")
    undecided = await answer(inspection, settings, LVLIANG, audit_id, "6.2", implemented=None, note="待核实")
    assert undecided.json()["answered"] == 15

    refused = await inspection.post(f"/oversight-audits/{audit_id}/report", headers=city)
    assert (refused.status_code, refused.json()["code"]) == (422, "OVERSIGHT_ITEMS_MISSING")
    assert refused.json()["missing"] == ["6.2", "7.3"]
    assert (await inspection.get(f"/oversight-audits/{audit_id}", headers=city)).json()["status"] == "draft"
    assert await stream_events(settings, "qsr.inspection.oversight.reported", stream="QSR_INSPECTION") == []

    for item in ("6.2", "7.3"):
        await answer(inspection, settings, LVLIANG, audit_id, item)
    reported = await inspection.post(f"/oversight-audits/{audit_id}/report", headers=city)
    assert reported.status_code == 200, reported.text
    body = reported.json()
    assert (body["status"], body["implemented"], body["total"], body["editable"]) == (
        "reported",
        16,
        17,
        False,
    )
    assert body["reported_at"] is not None

    async def announced() -> dict:
        events = await stream_events(settings, "qsr.inspection.oversight.reported", stream="QSR_INSPECTION")
        assert len(events) == 1, events
        return events[0]

    event = await eventually(announced)
    assert event["type"] == "qsr.inspection.oversight.reported.v1" and event["region"] == "141121"
    assert event["data"] == {
        "audit_id": audit_id,
        "auditor_region": "141100",
        "audited_region": "141121",
        "period": "2025-H2",
        "implemented": 16,
        "total": 17,
    }

    # A reported audit is final.
    late = await answer(inspection, settings, LVLIANG, audit_id, "4.3")
    assert (late.status_code, late.json()["code"]) == (409, "OVERSIGHT_AUDIT_REPORTED")
    twice = await inspection.post(f"/oversight-audits/{audit_id}/report", headers=city)
    assert twice.status_code == 409

    # The summary, for the city and for the province above it.
    await create(inspection, settings, LVLIANG, "141122")  # a draft, not yet reported
    for caller in (LVLIANG, SX_PROVINCE):
        response = await inspection.get(
            "/oversight-audits/summary", params={"period": "2025-H2"}, headers=identity(settings, caller)
        )
        assert response.status_code == 200
        summary = response.json()
        assert [row["audited_region"] for row in summary["reported"]] == ["141121"]
        row = summary["reported"][0]
        assert (row["audit_id"], row["implemented"], row["total"], row["audited_name"]) == (
            audit_id,
            16,
            17,
            "文水县",
        )
        assert row["not_implemented"] == [
            {
                "id": "4.3",
                "section": "监督检查任务清单建立及落实情况",
                "text": "组织对本辖区的质量安全总监、质量安全员随机进行监督抽查考核并公布结果",
                "note": "本年度未组织抽查考核",
            }
        ]
        assert [(d["audited_region"], d["answered"], d["total"]) for d in summary["drafts"]] == [
            ("141122", 0, 17)
        ]
    other_period = await inspection.get(
        "/oversight-audits/summary", params={"period": "2025-H1"}, headers=city
    )
    assert other_period.json()["reported"] == [] and other_period.json()["drafts"] == []
    bad_period = await inspection.get("/oversight-audits/summary", params={"period": "2025-H3"}, headers=city)
    assert bad_period.status_code == 422


async def test_the_audited_county_reads_but_cannot_edit_and_the_neighbour_sees_nothing(
    settings: Settings, inspection: httpx.AsyncClient
) -> None:
    audit_id = (await create(inspection, settings, LVLIANG, "141121")).json()["id"]
    await answer(inspection, settings, LVLIANG, audit_id, "1.1", highlights="专班每周例会")
    wenshui, jiaocheng = identity(settings, WENSHUI), identity(settings, JIAOCHENG)

    read = await inspection.get(f"/oversight-audits/{audit_id}", headers=wenshui)
    assert read.status_code == 200
    assert read.json()["editable"] is False and read.json()["items"][0]["highlights"] == "专班每周例会"
    listed = (await inspection.get("/oversight-audits", headers=wenshui)).json()
    assert [a["id"] for a in listed["items"]] == [audit_id] and listed["items"][0]["items"] is None
    edit = await answer(inspection, settings, WENSHUI, audit_id, "1.1", implemented=False)
    assert (edit.status_code, edit.json()["code"]) == (403, "OVERSIGHT_READ_ONLY")
    report = await inspection.post(f"/oversight-audits/{audit_id}/report", headers=wenshui)
    assert (report.status_code, report.json()["code"]) == (403, "OVERSIGHT_READ_ONLY")
    # The province above the auditor reads it too, but only the auditing bureau fills it in.
    above = await answer(inspection, settings, SX_PROVINCE, audit_id, "1.1")
    assert (above.status_code, above.json()["code"]) == (403, "OVERSIGHT_READ_ONLY")
    item = (await inspection.get(f"/oversight-audits/{audit_id}", headers=wenshui)).json()["items"][0]
    assert item["implemented"] is True  # as the city recorded it, untouched by the refused edits

    for outsider in (JIAOCHENG, LINFEN, STATION, UNIT):
        headers = identity(settings, outsider)
        detail = await inspection.get(f"/oversight-audits/{audit_id}", headers=headers)
        assert (detail.status_code, detail.json()["code"]) == (404, "OVERSIGHT_AUDIT_NOT_FOUND"), outsider
        assert (await inspection.get("/oversight-audits", headers=headers)).json()["items"] == []
        assert (await answer(inspection, settings, outsider, audit_id, "1.1")).status_code == 404
        assert (
            await inspection.post(f"/oversight-audits/{audit_id}/report", headers=headers)
        ).status_code == 404
        summary = await inspection.get(
            "/oversight-audits/summary", params={"period": "2025-H2"}, headers=headers
        )
        assert summary.json()["reported"] == [] and summary.json()["drafts"] == []
    # The audited county did not audit anyone: its summary is empty too.
    own = await inspection.get("/oversight-audits/summary", params={"period": "2025-H2"}, headers=wenshui)
    assert own.json()["drafts"] == []
    missing = await inspection.get("/oversight-audits/no-such-audit", headers=jiaocheng)
    assert missing.status_code == 404


async def test_only_an_upper_bureau_audits_a_lower_one_in_its_jurisdiction(
    settings: Settings, inspection: httpx.AsyncClient
) -> None:
    refused = [
        (WENSHUI, "141121"),  # a county auditing itself
        (WENSHUI, "141122"),  # … or its neighbour
        (LVLIANG, "141100"),  # a city auditing itself
        (LVLIANG, "141000"),  # … another city
        (LVLIANG, "140000"),  # … its province
        (LINFEN, "141121"),  # a county of another city
        (SX_PROVINCE, "320100"),  # a city of another province
        (SX_PROVINCE, "140000"),
        (STATION, "141121"),
        (UNIT, "141121"),
    ]
    for caller, region in refused:
        response = await create(inspection, settings, caller, region)
        assert (response.status_code, response.json()["code"]) == (403, "OVERSIGHT_NOT_SUPERIOR"), (
            caller.region_code,
            region,
        )
    assert (await create(inspection, settings, SX_PROVINCE, "141100")).status_code == 201
    assert (await create(inspection, settings, SX_PROVINCE, "141121")).status_code == 201
    # The city, audited by the province, reads that audit and cannot edit it.
    city_view = (await inspection.get("/oversight-audits", headers=identity(settings, LVLIANG))).json()
    assert [(a["audited_region"], a["editable"]) for a in city_view["items"]] == [
        ("141100", False),
        ("141121", False),
    ]

    unknown = await create(inspection, settings, SX_PROVINCE, "149999")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "OVERSIGHT_REGION_UNKNOWN")
    for period in ("2025-H3", "2025-13", "25-H1", "2025H2"):
        assert (await create(inspection, settings, LVLIANG, "141122", period)).status_code == 422
    wrong = await create(inspection, settings, LVLIANG, "141122", template="production-shanghai")
    assert (wrong.status_code, wrong.json()["code"]) == (422, "OVERSIGHT_TEMPLATE_UNKNOWN")
    chosen = await create(inspection, settings, LVLIANG, "141122", "2025-11", template="oversight-jiangsu")
    assert (
        chosen.status_code == 201
        and chosen.json()["items"][0]["text"] == "组织开展法律法规政策文件宣贯落实。"
    )

    # 南京 audits its districts with Jiangsu's own 督查清单 (seed 002 附件4).
    nanjing = await create(inspection, settings, NANJING, "320102", "2025-Q4")
    assert nanjing.status_code == 201 and nanjing.json()["template"] == "oversight-jiangsu"
    assert nanjing.json()["items"][-1]["text"] == "制定督查计划，对下级市场监管部门开展督查。"
    audit_id = nanjing.json()["id"]
    unknown_item = await answer(inspection, settings, NANJING, audit_id, "8.1")
    assert (unknown_item.status_code, unknown_item.json()["code"]) == (404, "OVERSIGHT_ITEM_NOT_FOUND")
    bad = await inspection.put(
        f"/oversight-audits/{audit_id}/items/1.1",
        json={"implemented": "maybe"},
        headers=identity(settings, NANJING),
    )
    assert bad.status_code == 422
    too_long = await answer(inspection, settings, NANJING, audit_id, "1.1", highlights="好" * 2001)
    assert too_long.status_code == 422
    # Shanxi's province sees none of Nanjing's audits.
    province = (await inspection.get("/oversight-audits", headers=identity(settings, SX_PROVINCE))).json()
    assert audit_id not in [a["id"] for a in province["items"]]


async def test_the_list_is_paged_and_filtered(settings: Settings, inspection: httpx.AsyncClient) -> None:
    for region, period in (("141121", "2025-H1"), ("141122", "2025-H1"), ("141121", "2025-H2")):
        assert (await create(inspection, settings, LVLIANG, region, period)).status_code == 201
    city = identity(settings, LVLIANG)
    first = (await inspection.get("/oversight-audits", params={"limit": 2}, headers=city)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (
        await inspection.get(
            "/oversight-audits", params={"limit": 2, "cursor": first["next_cursor"]}, headers=city
        )
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert [a["period"] for a in first["items"] + rest["items"]] == ["2025-H1", "2025-H1", "2025-H2"]
    h1 = (await inspection.get("/oversight-audits", params={"period": "2025-H1"}, headers=city)).json()
    assert sorted(a["audited_region"] for a in h1["items"]) == ["141121", "141122"]
    of_wenshui = (
        await inspection.get("/oversight-audits", params={"audited_region": "141121"}, headers=city)
    ).json()
    assert [a["period"] for a in of_wenshui["items"]] == ["2025-H1", "2025-H2"]
    drafts = (await inspection.get("/oversight-audits", params={"status": "reported"}, headers=city)).json()
    assert drafts["items"] == []
    neighbour = (
        await inspection.get(
            "/oversight-audits", params={"period": "2025-H1"}, headers=identity(settings, JIAOCHENG)
        )
    ).json()
    assert [a["audited_region"] for a in neighbour["items"]] == ["141122"]
