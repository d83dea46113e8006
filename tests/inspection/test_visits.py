"""On-site inspections from phones over a real database and a real NATS: assignments, offline batches sent
twice or cut off, device order, stale edits, findings, the submitted event, review, evidence, jurisdiction."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import func, select

from services.common.auth import Caller
from services.common.db import CHINA, utcnow
from services.common.events import ENTERPRISE_REGISTERED, EnterpriseRegistered, make_event
from services.common.settings import Settings
from services.inspection import evidence
from services.inspection.app import create_app
from services.inspection.models import Complaint, Inspection, InspectionRevision, KnownEnterprise
from services.inspection.visits import rules, schemas, service
from tests.harness import (
    JIAOCHENG,
    SX_PROVINCE,
    WENSHUI,
    eventually,
    identity,
    make_uscc,
    publish_events,
    serving,
    stream_events,
)

pytestmark = pytest.mark.asyncio

# Inspectors of 文水县局 on their phones; wenshui (the county bureau's account) reviews.
LI = Caller(username="li", role="regulator", region_code="141121")
WANG = Caller(username="wang", role="regulator", region_code="141121")
STATION = Caller(username="zhao", role="regulator", region_code="141121001")  # 文水县某市场监管所
NEIGHBOUR = Caller(username="ma", role="regulator", region_code="141122")  # 交城县执法人员
SUBMITTED = "qsr.inspection.inspection.submitted"

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(256)) * 40
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


@dataclass
class Phone:
    """One phone: its id and its own counter of operations."""

    caller: Caller
    device_id: str = field(default_factory=lambda: f"phone-{uuid.uuid4().hex[:8]}")
    seq: int = 0

    def op(self, kind: str, inspection_id: str, *, at: str | None = None, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        return {
            "type": kind,
            "inspection_id": inspection_id,
            "device_id": self.device_id,
            "device_seq": self.seq,
            "device_time": at or datetime.now(CHINA).replace(tzinfo=None).isoformat(timespec="seconds"),
            "gps": {"lat": 37.43, "lon": 112.03, "accuracy_m": 8.5},
            **fields,
        }


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings

    def headers(self, caller: Caller, **extra: str) -> dict[str, str]:
        return {**identity(self.settings, caller), **extra}

    async def sync(self, caller: Caller, operations: list[dict], **headers: str) -> httpx.Response:
        return await self.client.post(
            "/inspections/sync", json={"operations": operations}, headers=self.headers(caller, **headers)
        )

    async def detail(self, inspection_id: str, caller: Caller = WENSHUI) -> dict[str, Any]:
        response = await self.client.get(f"/inspections/{inspection_id}", headers=self.headers(caller))
        assert response.status_code == 200, response.text
        return response.json()

    async def count(self, stmt: Any) -> int:
        async with self.app.state.db.session() as session:
            return (await session.execute(stmt)).scalar_one()


def unit(
    n: int, *, region: str = "141121", kind: str = "production", station: str | None = None
) -> KnownEnterprise:
    return KnownEnterprise(
        id=f"unit-{n}",
        region_code=region,
        name=f"测试单位{n}",
        kind=kind,
        uscc=make_uscc(n, region),
        sales_channel="retail" if kind == "sales" else None,
        station_code=station,
    )


@pytest_asyncio.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    app = create_app(settings)
    async with serving(app) as client:
        async with app.state.db.transaction() as session:
            session.add(unit(1, station="141121001"))
            session.add(unit(2, kind="sales", station="141121002"))
            session.add(unit(3, region="141122"))
        yield World(app, client, settings)


def answers(checklist: list[dict], **special: str) -> dict[str, dict[str, str]]:
    """Every item ✓ except those named (``fail``, ``na``, ``waived``), with a note on each ✗."""
    results = {item["id"]: {"result": "pass", "note": ""} for item in checklist}
    for item_id, result in special.items():
        results[item_id.replace("_", ".")] = {
            "result": result,
            "note": f"{item_id} 现场发现问题" if result == "fail" else "",
        }
    return results


def visit(
    phone: Phone, inspection_id: str, enterprise_id: str, checklist: list[dict], **special: str
) -> list[dict]:
    """What a phone records for one ad hoc visit: create, start, results, submit."""
    return [
        phone.op("create", inspection_id, enterprise_id=enterprise_id, inspectors=["wang"]),
        phone.op("start", inspection_id, base_version=1),
        phone.op("record", inspection_id, base_version=1, results=answers(checklist, **special)),
        phone.op("submit", inspection_id, base_version=1, conclusion="现场检查结束"),
    ]


async def checklist_of(world: World, enterprise_id: str) -> list[dict]:
    response = await world.client.get(f"/enterprises/{enterprise_id}/checklist", headers=world.headers(LI))
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert len(items) >= 5  # the seeds' templates: 1.1 … plus the unit's risk points
    return items


async def planned(
    world: World, enterprise_id: str, inspectors: list[str], *, age: timedelta = timedelta()
) -> str:
    """A planned inspection as a plan hands it to the phones (``age``: how long ago it last changed)."""
    async with world.app.state.db.transaction() as session:
        row = await service.create_planned(
            session,
            unit=await session.get(KnownEnterprise, enterprise_id),
            inspectors=inspectors,
            created_by="wenshui",
        )
        row.created_at = row.updated_at = datetime.now(UTC) - age
        return row.id


def statuses(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [o["status"] for o in response.json()["outcomes"]]


# ------------------------------------------------------------------------------------------ plain rules


async def test_operations_are_ordered_by_device_sequence_per_device() -> None:
    a, b = Phone(LI, "a"), Phone(WANG, "b")
    ops = [a.op("start", str(uuid.uuid4()), base_version=1) for _ in range(3)]
    ops += [b.op("start", str(uuid.uuid4()), base_version=1) for _ in range(2)]
    parsed = [schemas.OPERATION.validate_python(o) for o in (ops[4], ops[2], ops[0], ops[3], ops[1])]
    ordered = rules.order_operations(parsed)
    assert [(o.device_id, o.device_seq) for o in ordered] == [
        ("b", 1),
        ("b", 2),
        ("a", 1),
        ("a", 2),
        ("a", 3),
    ]


async def test_only_failed_items_make_findings_and_the_visit_date_is_beijing_time() -> None:
    checklist = [{"id": f"1.{n}", "section": "一", "text": f"条目{n}"} for n in range(1, 6)]
    results = {
        "1.1": {"result": "pass", "note": ""},
        "1.2": {"result": "fail", "note": "未任命质量安全总监"},
        "1.3": {"result": "waived", "note": "停产"},
        "1.4": {"result": "na", "note": ""},
        "1.5": {"result": "fail", "note": " "},
    }
    assert rules.failed_items(checklist, results) == {"1.2": "未任命质量安全总监", "1.5": "1.5 条目5"}
    assert rules.missing_items(checklist, {"1.1": {}}) == ["1.2", "1.3", "1.4", "1.5"]
    evening_utc = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # 2 March 01:00 in Beijing
    assert str(rules.visit_date(None, evening_utc, evening_utc + timedelta(days=3))) == "2026-03-02"
    # A phone whose clock runs days ahead cannot date the visit after its arrival.
    assert str(rules.visit_date(evening_utc + timedelta(days=9), evening_utc, evening_utc)) == "2026-03-02"


async def test_digest_headers() -> None:
    sha = hashlib.sha256(b"x").digest()
    assert evidence.expected_digest(sha.hex().upper(), None, None) == sha.hex()
    assert (
        evidence.expected_digest(None, "md5=abc, sha-256=" + base64.b64encode(sha).decode(), None)
        == sha.hex()
    )
    assert (
        evidence.expected_digest(None, None, "sha-256=:" + base64.b64encode(sha).decode() + ":") == sha.hex()
    )
    assert evidence.expected_digest(None, "md5=abc", None) is None
    for bad in (
        ("zz", None, None),
        (None, "sha-256=!!", None),
        (None, "sha-256=" + base64.b64encode(b"x").decode(), None),
    ):
        with pytest.raises(evidence.EvidenceDigestInvalid):
            evidence.expected_digest(*bad)


# ------------------------------------------------------------------------------------------ assignments


async def test_the_phone_downloads_its_assignments_and_then_only_what_changed(world: World) -> None:
    mine = await planned(world, "unit-1", ["li", "wang"], age=timedelta(minutes=10))
    shop = await planned(world, "unit-2", ["li"], age=timedelta(minutes=10))
    await planned(world, "unit-1", ["wang"], age=timedelta(minutes=10))  # not li's

    first = await world.client.get("/assignments", headers=world.headers(LI))
    assert first.status_code == 200, first.text
    body = first.json()
    assert sorted(body["assigned_ids"]) == sorted([mine, shop])
    by_id = {a["id"]: a for a in body["items"]}
    assert set(by_id) == {mine, shop}
    factory = by_id[mine]
    assert factory["status"] == "planned" and factory["version"] == 1
    assert factory["unit"] == {
        "id": "unit-1",
        "name": "测试单位1",
        "kind": "production",
        "region_code": "141121",
        "uscc": make_uscc(1, "141121"),
        "sales_channel": None,
        "address": None,
    }
    assert factory["checklist"] == await checklist_of(world, "unit-1") and factory["results"] == {}
    assert by_id[shop]["unit"]["kind"] == "sales" and by_id[shop]["template"] != factory["template"]

    nothing_new = await world.client.get(
        "/assignments", params={"since": body["cursor"]}, headers=world.headers(LI)
    )
    assert nothing_new.json()["items"] == [] and sorted(nothing_new.json()["assigned_ids"]) == sorted(
        [mine, shop]
    )

    phone = Phone(LI)
    assert statuses(await world.sync(LI, [phone.op("start", mine, base_version=1)])) == ["applied"]
    changed = (
        await world.client.get("/assignments", params={"since": body["cursor"]}, headers=world.headers(LI))
    ).json()
    assert [(a["id"], a["status"], a["version"]) for a in changed["items"]] == [(mine, "in_progress", 2)]

    checklist = factory["checklist"]
    done = [phone.op("submit", mine, base_version=2, results=answers(checklist))]
    assert statuses(await world.sync(LI, done)) == ["applied"]
    after = (
        await world.client.get("/assignments", params={"since": changed["cursor"]}, headers=world.headers(LI))
    ).json()
    assert after["assigned_ids"] == [shop] and after["items"] == []  # submitted: the phone drops it

    bad = await world.client.get("/assignments", params={"since": "yesterday"}, headers=world.headers(LI))
    assert bad.status_code == 422


# ------------------------------------------------------------------------------------------ batches


async def test_a_batch_sent_twice_creates_each_inspection_once(world: World) -> None:
    checklist = await checklist_of(world, "unit-1")
    phone = Phone(LI)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    batch = [op for i in ids for op in visit(phone, i, "unit-1", checklist, **{"1_1": "fail"})]
    key = str(uuid.uuid4())

    first = await world.sync(LI, batch, **{"Idempotency-Key": key})
    assert statuses(first) == ["applied"] * 12
    assert first.json()["applied"] == 12

    again = await world.sync(LI, batch, **{"Idempotency-Key": key})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()

    spaced = await world.sync(LI, batch, **{"Idempotency-Key": "two words"})
    assert spaced.status_code == 422 and spaced.json()["code"] == "IDEMPOTENCY_KEY_INVALID"
    other = await world.sync(LI, batch[:4], **{"Idempotency-Key": key})
    assert other.status_code == 422 and other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    someone_else = await world.sync(WANG, batch[:1], **{"Idempotency-Key": key})  # keys are per caller
    assert "Idempotent-Replayed" not in someone_else.headers and statuses(someone_else) == ["duplicate"]

    without_key = await world.sync(LI, batch)
    assert statuses(without_key) == ["duplicate"] * 12
    assert [o["version"] for o in without_key.json()["outcomes"]] == [4] * 12

    listed = (await world.client.get("/inspections", headers=world.headers(WENSHUI))).json()["items"]
    assert sorted(i["id"] for i in listed) == sorted(ids)
    for inspection_id in ids:
        detail = await world.detail(inspection_id)
        assert detail["status"] == "submitted" and detail["revisions"] == 4 and detail["version"] == 4
        assert [f["item_id"] for f in detail["findings"]] == ["1.1"]

    # Kept responses are forgotten after the retention; the same batch with the same key then changes nothing.
    db = world.app.state.db
    assert await service.purge_idempotency(db, utcnow() - timedelta(days=1)) == 0
    assert await service.purge_idempotency(db, utcnow() + timedelta(seconds=1)) == 2  # LI's and WANG's
    late = await world.sync(LI, batch, **{"Idempotency-Key": key})
    assert "Idempotent-Replayed" not in late.headers and statuses(late) == ["duplicate"] * 12
    assert len((await world.client.get("/inspections", headers=world.headers(WENSHUI))).json()["items"]) == 3


async def test_a_batch_cut_off_half_way_then_retried_applies_everything_once(world: World) -> None:
    checklist = await checklist_of(world, "unit-1")
    phone = Phone(LI)
    ids = [str(uuid.uuid4()) for _ in range(4)]
    batch = [op for i in ids for op in visit(phone, i, "unit-1", checklist, **{"1_2": "fail", "2_1": "fail"})]
    half = batch[:7]  # the connection dropped in the middle of the second inspection

    assert statuses(await world.sync(LI, half, **{"Idempotency-Key": str(uuid.uuid4())})) == ["applied"] * 7
    retried = await world.sync(LI, batch, **{"Idempotency-Key": str(uuid.uuid4())})
    assert statuses(retried) == ["duplicate"] * 7 + ["applied"] * 9

    assert await world.count(select(func.count()).select_from(Inspection)) == 4
    assert await world.count(select(func.count()).select_from(InspectionRevision)) == 16
    for inspection_id in ids:
        detail = await world.detail(inspection_id)
        assert sorted(f["item_id"] for f in detail["findings"]) == ["1.2", "2.1"]

    async def announced_once_each() -> None:
        events = await stream_events(world.settings, SUBMITTED, stream="QSR_INSPECTION")
        assert sorted(e["data"]["inspection_id"] for e in events) == sorted(ids)

    await eventually(announced_once_each)


async def test_operations_are_applied_in_the_order_the_device_made_them(world: World) -> None:
    await checklist_of(world, "unit-1")
    phone = Phone(LI)
    inspection = str(uuid.uuid4())
    made = [
        phone.op("create", inspection, enterprise_id="unit-1"),
        phone.op("start", inspection, base_version=1),
        phone.op(
            "record", inspection, base_version=1, results={"1.1": {"result": "fail", "note": "先记为不符合"}}
        ),
        phone.op(
            "record", inspection, base_version=1, results={"1.1": {"result": "pass", "note": "复核后符合"}}
        ),
    ]
    arrived = [made[3], made[1], made[2], made[0]]  # the upload queue got shuffled
    response = await world.sync(LI, arrived)
    assert statuses(response) == ["applied"] * 4
    assert [o["version"] for o in response.json()["outcomes"]] == [4, 2, 3, 1]
    detail = await world.detail(inspection)
    assert detail["results"]["1.1"] == {"result": "pass", "note": "复核后符合"}  # the later edit wins
    assert detail["status"] == "in_progress" and detail["device_id"] == phone.device_id

    # Across batches too: an upload lost and retried after a newer one got through is applied as if in the
    # device's order — what the newer operation set stays, the rest of the older one counts.
    lost = phone.op(
        "record",
        inspection,
        base_version=4,
        results={"1.2": {"result": "na", "note": ""}, "1.3": {"result": "fail", "note": "旧记录"}},
    )
    phone.seq += 3  # numbers may have gaps
    newer = phone.op(
        "record", inspection, base_version=4, results={"1.3": {"result": "pass", "note": "新记录"}}
    )
    assert statuses(await world.sync(LI, [newer])) == ["applied"]
    assert statuses(await world.sync(LI, [lost])) == ["applied"]
    assert statuses(await world.sync(LI, [lost, newer])) == ["duplicate", "duplicate"]  # re-sent: nothing
    results = (await world.detail(inspection))["results"]
    assert results["1.2"] == {"result": "na", "note": ""}
    assert results["1.3"] == {"result": "pass", "note": "新记录"}


async def test_a_stale_edit_is_refused_with_the_current_version_and_findings_are_not_doubled(
    world: World,
) -> None:
    checklist = await checklist_of(world, "unit-1")
    inspection = await planned(world, "unit-1", ["li", "wang"])
    li, wang = Phone(LI), Phone(WANG)

    assert statuses(await world.sync(LI, [li.op("start", inspection, base_version=1)])) == ["applied"]
    stale = await world.sync(
        WANG, [wang.op("record", inspection, base_version=1, results={"1.1": {"result": "pass"}})]
    )
    assert statuses(stale) == ["conflict"]
    conflict = stale.json()["outcomes"][0]
    assert conflict["code"] == "INSPECTION_VERSION_CONFLICT" and conflict["version"] == 2
    assert conflict["current_results"] == {} and conflict["inspection_status"] == "in_progress"

    # The rest of a batch applies; wang merges and sends again on the current version.
    rest = await world.sync(
        WANG,
        [
            wang.op("record", inspection, base_version=1, results={"1.2": {"result": "pass"}}),
            wang.op("record", inspection, base_version=2, results={"1.1": {"result": "pass", "note": ""}}),
        ],
    )
    assert statuses(rest) == ["conflict", "applied"] and rest.json()["outcomes"][1]["version"] == 3

    # li's phone submits on what it had (version 2): wang changed it since → refused, then li re-submits.
    failing = answers(checklist, **{"1_3": "fail", "1_4": "fail"})
    refused = await world.sync(LI, [li.op("submit", inspection, base_version=2, results=failing)])
    assert statuses(refused) == ["conflict"] and refused.json()["outcomes"][0]["version"] == 3
    assert refused.json()["outcomes"][0]["current_results"]["1.1"]["result"] == "pass"
    submitted = await world.sync(LI, [li.op("submit", inspection, base_version=3, results=failing)])
    assert statuses(submitted) == ["applied"]
    assert sorted(f["item_id"] for f in (await world.detail(inspection))["findings"]) == ["1.3", "1.4"]

    # wang re-submits (amends) after a conflict of its own: 1.4 is fixed, 1.5 found — no finding twice.
    amended = answers(checklist, **{"1_3": "fail", "1_5": "fail"})
    assert statuses(
        await world.sync(WANG, [wang.op("submit", inspection, base_version=3, results=amended)])
    ) == ["conflict"]
    assert statuses(
        await world.sync(WANG, [wang.op("submit", inspection, base_version=4, results=amended)])
    ) == ["applied"]
    findings = {f["item_id"]: f["status"] for f in (await world.detail(inspection))["findings"]}
    assert findings == {"1.3": "open", "1.4": "closed", "1.5": "open"}

    async def announced_once() -> None:
        events = await stream_events(world.settings, SUBMITTED, stream="QSR_INSPECTION")
        assert [e["data"]["inspection_id"] for e in events] == [inspection]

    await eventually(announced_once)


async def test_failed_items_become_findings_and_the_submission_reaches_nats(world: World) -> None:
    checklist = await checklist_of(world, "unit-1")
    phone = Phone(LI)
    inspection = str(uuid.uuid4())
    yesterday = (datetime.now(CHINA) - timedelta(days=1)).date()
    early = f"{yesterday.isoformat()}T00:30:00"  # Beijing: the UTC date is the day before
    results = answers(checklist, **{"1_1": "fail", "1_3": "waived", "1_4": "na"})
    results["2.1"] = {"result": "fail", "note": ""}
    ops = [
        phone.op("create", inspection, enterprise_id="unit-1", inspectors=["wang"], at=early),
        phone.op("start", inspection, base_version=1, at=early),
        phone.op("record", inspection, base_version=1, results={"9.9": {"result": "pass"}}),
        phone.op("submit", inspection, base_version=1, results={"1.1": {"result": "pass"}}),
        {"type": "record", "inspection_id": inspection, "device_id": phone.device_id},
        phone.op("record", inspection, base_version=1, results=results),
        phone.op("submit", inspection, base_version=1, conclusion="责令整改两项"),
    ]
    response = await world.sync(LI, ops)
    outcomes = response.json()["outcomes"]
    assert statuses(response) == [
        "applied",
        "applied",
        "rejected",
        "rejected",
        "rejected",
        "applied",
        "applied",
    ]
    assert [o["code"] for o in outcomes[2:5]] == [
        "CHECKLIST_ITEM_UNKNOWN",
        "INSPECTION_INCOMPLETE",
        "OPERATION_INVALID",
    ]
    assert "9.9" in outcomes[2]["message"] and "1.2" in outcomes[3]["message"]

    detail = await world.detail(inspection)
    assert detail["status"] == "submitted" and detail["conclusion"] == "责令整改两项"
    assert detail["inspectors"] == ["li", "wang"] and detail["latitude"] == 37.43
    assert detail["device_started_at"].startswith(f"{(yesterday - timedelta(days=1)).isoformat()}T16:30:00")
    assert detail["received_at"] is not None
    found = {f["item_id"]: f["description"] for f in detail["findings"]}
    item_2_1 = next(i for i in checklist if i["id"] == "2.1")
    assert found == {"1.1": "1_1 现场发现问题", "2.1": f"2.1 {item_2_1['text']}"}  # ✓, waived, na: none

    async def announced() -> None:
        events = await stream_events(world.settings, SUBMITTED, stream="QSR_INSPECTION")
        assert len(events) == 1
        event = events[0]
        assert event["type"] == "qsr.inspection.inspection.submitted.v1"
        assert event["region"] == "141121" and event["enterpriseid"] == "unit-1"
        assert event["data"] == {
            "inspection_id": inspection,
            "enterprise_id": "unit-1",
            "trigger": "adhoc",
            "visited_on": yesterday.isoformat(),
            "inspectors": ["li", "wang"],
            "findings": 2,
        }

    await eventually(announced)


async def test_a_unit_announced_by_registry_is_inspected_end_to_end(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        world = World(app, client, settings)
        unit_id = str(uuid.uuid4())
        registered = EnterpriseRegistered(
            enterprise_id=unit_id,
            uscc=make_uscc(41),
            name="文水县电动车经销部",
            kind="sales",
            sales_channel="retail",
            region_code="141121",
            employees=4,
            revenue_wan_yuan=80,
            entry_reason="survey",
            operating_status="normal",
        )
        await publish_events(
            settings, make_event(ENTERPRISE_REGISTERED, registered, region="141121", enterprise_id=unit_id)
        )
        phone = Phone(LI)
        inspection = str(uuid.uuid4())

        async def created() -> None:
            response = await world.sync(LI, [phone.op("create", inspection, enterprise_id=unit_id)])
            assert statuses(response) == ["applied"], response.text

        await eventually(created)
        detail = await world.detail(inspection)
        assert "sales" in detail["template"] and detail["inspectors"] == ["li"]
        checklist = detail["checklist"]
        ops = [
            phone.op("start", inspection, base_version=1),
            phone.op("submit", inspection, base_version=1, results=answers(checklist, **{"1_1": "fail"})),
        ]
        assert statuses(await world.sync(LI, ops)) == ["applied", "applied"]

        async def announced() -> None:
            events = await stream_events(settings, SUBMITTED, stream="QSR_INSPECTION")
            assert [(e["data"]["inspection_id"], e["data"]["findings"]) for e in events] == [(inspection, 1)]

        await eventually(announced)


# ------------------------------------------------------------------------------------------ review


async def test_review_by_a_regulator_who_did_not_inspect(world: World) -> None:
    checklist = await checklist_of(world, "unit-1")
    phone = Phone(LI)
    inspection = str(uuid.uuid4())
    ops = visit(phone, inspection, "unit-1", checklist)
    assert statuses(await world.sync(LI, ops[:2])) == ["applied"] * 2
    note = {"note": "记录完整，同意"}

    early = await world.client.post(
        f"/inspections/{inspection}/review", json=note, headers=world.headers(WENSHUI)
    )
    assert early.status_code == 409 and early.json()["code"] == "INSPECTION_NOT_SUBMITTED"
    assert statuses(await world.sync(LI, ops[2:])) == ["applied"] * 2

    own = await world.client.post(f"/inspections/{inspection}/review", json=note, headers=world.headers(WANG))
    assert own.status_code == 403 and own.json()["code"] == "INSPECTION_REVIEWER_IS_INSPECTOR"
    neighbour = await world.client.post(
        f"/inspections/{inspection}/review", json=note, headers=world.headers(JIAOCHENG)
    )
    assert neighbour.status_code == 404
    stale = await world.client.post(
        f"/inspections/{inspection}/review", json={**note, "base_version": 3}, headers=world.headers(WENSHUI)
    )
    assert (stale.status_code, stale.json()["code"], stale.json()["current_version"]) == (
        409,
        "INSPECTION_VERSION_CONFLICT",
        4,
    )
    empty = await world.client.post(
        f"/inspections/{inspection}/review", json={"note": ""}, headers=world.headers(WENSHUI)
    )
    assert empty.status_code == 422

    photo = f"/inspections/{inspection}/evidence/{uuid.uuid4()}"
    jpeg = world.headers(LI, **{"Content-Type": "image/jpeg"})
    assert (await world.client.put(photo, content=JPEG, headers=jpeg)).status_code == 201

    reviewed = await world.client.post(
        f"/inspections/{inspection}/review", json={**note, "base_version": 4}, headers=world.headers(WENSHUI)
    )
    assert reviewed.status_code == 200, reviewed.text
    body = reviewed.json()
    assert (body["status"], body["reviewed_by"], body["review_note"], body["version"]) == (
        "reviewed",
        "wenshui",
        "记录完整，同意",
        5,
    )
    again = await world.client.post(
        f"/inspections/{inspection}/review", json=note, headers=world.headers(SX_PROVINCE)
    )
    assert again.status_code == 409 and again.json()["code"] == "INSPECTION_ALREADY_REVIEWED"

    assert (await world.client.put(photo, content=JPEG, headers=jpeg)).status_code == 200  # a retry still is
    too_late = await world.client.put(
        f"/inspections/{inspection}/evidence/{uuid.uuid4()}", content=JPEG, headers=jpeg
    )
    assert too_late.status_code == 409 and too_late.json()["code"] == "INSPECTION_ALREADY_REVIEWED"
    late = await world.sync(LI, [phone.op("submit", inspection, base_version=5, results=answers(checklist))])
    assert (
        statuses(late) == ["rejected"] and late.json()["outcomes"][0]["code"] == "INSPECTION_ALREADY_REVIEWED"
    )
    listed = await world.client.get(
        "/inspections", params={"status": "reviewed"}, headers=world.headers(SX_PROVINCE)
    )
    assert [i["id"] for i in listed.json()["items"]] == [inspection]


# ------------------------------------------------------------------------------------------ evidence


async def test_evidence_upload_limits_digest_and_retry(world: World) -> None:
    phone = Phone(LI)
    inspection = str(uuid.uuid4())
    assert statuses(await world.sync(LI, [phone.op("create", inspection, enterprise_id="unit-1")])) == [
        "applied"
    ]
    photo = str(uuid.uuid4())
    path = f"/inspections/{inspection}/evidence/{photo}"
    params = {"kind": "photo", "taken_at": "2026-03-02T10:15:00", "lat": 37.43, "lon": 112.03}
    jpeg_headers = world.headers(LI, **{"Content-Type": "image/jpeg"})
    tmp = world.settings.attachments_path / "inspection" / "tmp"

    corrupted = await world.client.put(
        path,
        content=JPEG,
        params=params,
        headers={**jpeg_headers, "Content-SHA256": hashlib.sha256(b"other").hexdigest()},
    )
    assert corrupted.status_code == 422 and corrupted.json()["code"] == "EVIDENCE_DIGEST_MISMATCH"
    assert (await world.client.get(path, headers=world.headers(LI))).status_code == 404  # nothing kept

    digest = "sha-256=" + base64.b64encode(hashlib.sha256(JPEG).digest()).decode()
    created = await world.client.put(
        path, content=JPEG, params=params, headers={**jpeg_headers, "Digest": digest}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["sha256"] == hashlib.sha256(JPEG).hexdigest() and body["size"] == len(JPEG)
    assert body["device_taken_at"].startswith("2026-03-02T02:15:00") and body["latitude"] == 37.43
    retried = await world.client.put(path, content=JPEG, params=params, headers=jpeg_headers)
    assert retried.status_code == 200 and retried.json() == body
    changed = await world.client.put(path, content=JPEG + b"\x00", params=params, headers=jpeg_headers)
    assert changed.status_code == 409 and changed.json()["code"] == "EVIDENCE_CONTENT_DIFFERS"

    got = await world.client.get(path, headers=world.headers(WENSHUI))
    assert got.status_code == 200 and got.content == JPEG and got.headers["content-type"] == "image/jpeg"

    signature = f"/inspections/{inspection}/evidence/{uuid.uuid4()}"
    multipart = await world.client.put(
        signature,
        params={"kind": "signature"},
        files={"file": ("sign.png", PNG, "image/png")},
        headers=world.headers(LI),
    )
    assert multipart.status_code == 201 and multipart.json()["kind"] == "signature"

    refusals = [
        (b"plain text", "text/plain", 422, "EVIDENCE_TYPE_NOT_ALLOWED"),
        (JPEG, "image/png", 422, "EVIDENCE_CONTENT_MISMATCH"),
        (b"", "image/jpeg", 422, "EVIDENCE_EMPTY"),
    ]
    for content, content_type, status, code in refusals:
        refused = await world.client.put(
            f"/inspections/{inspection}/evidence/{uuid.uuid4()}",
            content=content,
            headers=world.headers(LI, **{"Content-Type": content_type}),
        )
        assert (refused.status_code, refused.json()["code"]) == (status, code)
    not_uuid = await world.client.put(
        f"/inspections/{inspection}/evidence/x", content=JPEG, headers=jpeg_headers
    )
    assert not_uuid.status_code == 422
    not_inspector = await world.client.put(
        f"/inspections/{inspection}/evidence/{uuid.uuid4()}",
        content=JPEG,
        headers=world.headers(WANG, **{"Content-Type": "image/jpeg"}),
    )
    assert not_inspector.status_code == 403 and not_inspector.json()["code"] == "INSPECTION_NOT_ASSIGNED"
    neighbour = await world.client.put(
        f"/inspections/{inspection}/evidence/{uuid.uuid4()}",
        content=JPEG,
        headers=world.headers(NEIGHBOUR, **{"Content-Type": "image/jpeg"}),
    )
    assert neighbour.status_code == 404
    assert (await world.client.get(path, headers=world.headers(JIAOCHENG))).status_code == 404
    assert list(tmp.iterdir()) == []  # nothing half-written stays behind

    evidence = (await world.detail(inspection))["evidence"]
    assert [(e["id"], e["kind"]) for e in evidence] == [
        (photo, "photo"),
        (multipart.json()["id"], "signature"),
    ]


async def test_evidence_over_the_size_limit_is_refused(
    nats_server: Any, database_url: str, tmp_path: Any
) -> None:
    from tests.harness import make_settings

    settings = make_settings(nats_server, database_url, tmp_path, attachment_max_bytes=4096)
    app = create_app(settings)
    async with serving(app) as client:
        async with app.state.db.transaction() as session:
            session.add(unit(1))
        world = World(app, client, settings)
        phone = Phone(LI)
        inspection = str(uuid.uuid4())
        assert statuses(await world.sync(LI, [phone.op("create", inspection, enterprise_id="unit-1")])) == [
            "applied"
        ]
        big = JPEG + bytes(5000)
        path = f"/inspections/{inspection}/evidence/{uuid.uuid4()}"
        declared = await client.put(
            path, content=big, headers=world.headers(LI, **{"Content-Type": "image/jpeg"})
        )
        assert declared.status_code == 413 and declared.json()["code"] == "EVIDENCE_TOO_LARGE"

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
            for start in range(0, len(big), 1000):
                yield big[start : start + 1000]

        streamed = await client.put(
            path, content=chunked(), headers=world.headers(LI, **{"Content-Type": "image/jpeg"})
        )
        assert streamed.status_code == 413
        assert list((settings.attachments_path / "inspection" / "tmp").iterdir()) == []
        small = await client.put(
            path, content=JPEG[:4000], headers=world.headers(LI, **{"Content-Type": "image/jpeg"})
        )
        assert small.status_code == 201


# ------------------------------------------------------------------------------------------ jurisdiction


async def test_jurisdiction_on_every_endpoint(world: World) -> None:
    checklist = await checklist_of(world, "unit-1")
    phone = Phone(LI)
    inspection = str(uuid.uuid4())
    assert statuses(await world.sync(LI, visit(phone, inspection, "unit-1", checklist))) == ["applied"] * 4
    shop = await planned(world, "unit-2", ["li", "zhao"])
    photo = f"/inspections/{inspection}/evidence/{uuid.uuid4()}"
    assert (
        await world.client.put(
            photo, content=JPEG, headers=world.headers(LI, **{"Content-Type": "image/jpeg"})
        )
    ).status_code == 201

    # 交城 sees nothing of 文水's.
    assert (
        await world.client.get(f"/inspections/{inspection}", headers=world.headers(JIAOCHENG))
    ).status_code == 404
    assert (await world.client.get("/inspections", headers=world.headers(JIAOCHENG))).json()["items"] == []
    assert (await world.client.get(photo, headers=world.headers(JIAOCHENG))).status_code == 404
    review = await world.client.post(
        f"/inspections/{inspection}/review", json={"note": "x"}, headers=world.headers(JIAOCHENG)
    )
    assert review.status_code == 404

    # 交城's inspector cannot sync into 文水's inspections, nor create one for a 文水 unit, even if named.
    async with world.app.state.db.transaction() as session:
        row = await session.get(Inspection, shop)
        row.inspectors = json.dumps(["li", "zhao", "ma"])
    assert (await world.client.get("/assignments", headers=world.headers(NEIGHBOUR))).json()[
        "assigned_ids"
    ] == []
    ma = Phone(NEIGHBOUR)
    outside = await world.sync(
        NEIGHBOUR,
        [
            ma.op("start", shop, base_version=1),
            ma.op("create", str(uuid.uuid4()), enterprise_id="unit-1"),
            ma.op("create", inspection, enterprise_id="unit-3"),
            ma.op("create", str(uuid.uuid4()), enterprise_id="unit-3"),
        ],
    )
    assert statuses(outside) == ["rejected", "rejected", "rejected", "applied"]
    assert [o["code"] for o in outside.json()["outcomes"][:3]] == [
        "INSPECTION_NOT_FOUND",
        "ENTERPRISE_NOT_FOUND",
        "INSPECTION_ID_TAKEN",
    ]
    assert (await world.detail(shop))["version"] == 1

    # Within the county, only the inspectors may edit.
    wenshui = Phone(WENSHUI)
    not_mine = await world.sync(WENSHUI, [wenshui.op("start", shop, base_version=1)])
    assert not_mine.json()["outcomes"][0]["code"] == "INSPECTION_NOT_ASSIGNED"

    # A station sees its own units only: unit-2 is another station's.
    assert (await world.client.get("/inspections", headers=world.headers(STATION))).json()["items"][0][
        "id"
    ] == inspection
    assert len((await world.client.get("/inspections", headers=world.headers(STATION))).json()["items"]) == 1
    assert (await world.client.get(f"/inspections/{shop}", headers=world.headers(STATION))).status_code == 404
    assert (await world.client.get("/assignments", headers=world.headers(STATION))).json()[
        "assigned_ids"
    ] == []

    # The unit itself reads its inspections, but cannot sync or review.
    own = Caller(username="ent-1", role="enterprise", region_code="141121", uscc=make_uscc(1, "141121"))
    assert (
        await world.client.get(f"/inspections/{inspection}", headers=world.headers(own))
    ).status_code == 200
    assert (await world.client.get(f"/inspections/{shop}", headers=world.headers(own))).status_code == 404
    assert [
        i["id"] for i in (await world.client.get("/inspections", headers=world.headers(own))).json()["items"]
    ] == [inspection]
    assert (await world.sync(own, [])).status_code == 403
    assert (await world.client.get("/assignments", headers=world.headers(own))).status_code == 403
    review = await world.client.post(
        f"/inspections/{inspection}/review", json={"note": "x"}, headers=world.headers(own)
    )
    assert review.status_code == 403

    # The province sees every county's; filters narrow it.
    everything = (await world.client.get("/inspections", headers=world.headers(SX_PROVINCE))).json()["items"]
    assert len(everything) == 3
    filtered = await world.client.get(
        "/inspections",
        params={"enterprise_id": "unit-2", "status": "planned"},
        headers=world.headers(SX_PROVINCE),
    )
    assert [i["id"] for i in filtered.json()["items"]] == [shop]
    page = await world.client.get("/inspections", params={"limit": 2}, headers=world.headers(SX_PROVINCE))
    rest = await world.client.get(
        "/inspections",
        params={"limit": 2, "cursor": page.json()["next_cursor"]},
        headers=world.headers(SX_PROVINCE),
    )
    assert (
        len(page.json()["items"]) == 2
        and len(rest.json()["items"]) == 1
        and rest.json()["next_cursor"] is None
    )
    assert {i["id"] for i in page.json()["items"] + rest.json()["items"]} == {i["id"] for i in everything}


async def test_the_same_batch_sent_twice_at_once_is_applied_once(world: World) -> None:
    checklist = await checklist_of(world, "unit-1")
    phone = Phone(LI)
    ids = [str(uuid.uuid4()) for _ in range(5)]
    batch = [op for i in ids for op in visit(phone, i, "unit-1", checklist, **{"1_1": "fail"})]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first, second = await asyncio.gather(world.sync(LI, batch, **key), world.sync(LI, batch, **key))
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json() == second.json()  # the later one answers with what the first stored
    assert await world.count(select(func.count()).select_from(Inspection)) == 5
    assert await world.count(select(func.count()).select_from(InspectionRevision)) == 20
    for inspection_id in ids:
        assert len((await world.detail(inspection_id))["findings"]) == 1

    unkeyed = await asyncio.gather(*(world.sync(LI, batch) for _ in range(3)))
    assert all(statuses(r) == ["duplicate"] * 20 for r in unkeyed)


async def test_an_inspection_made_on_the_phone_for_a_complaint_names_it(world: World) -> None:
    async with world.app.state.db.transaction() as session:
        for n, enterprise_id in ((1, "unit-1"), (2, "unit-2")):
            session.add(
                Complaint(
                    id=f"complaint-{n}",
                    enterprise_id=enterprise_id,
                    region_code="141121",
                    channel="12315",
                    received_on=datetime.now(CHINA).date(),
                    summary="消费者反映电动自行车制动失灵",
                    status="verified",
                    received_by="wenshui",
                    created_at=datetime.now(UTC),
                )
            )
    phone = Phone(LI)
    made = [
        phone.op("create", str(uuid.uuid4()), enterprise_id="unit-1", trigger="complaint"),
        phone.op(
            "create",
            str(uuid.uuid4()),
            enterprise_id="unit-1",
            trigger="complaint",
            trigger_ref="complaint-2",
        ),
        phone.op(
            "create",
            str(uuid.uuid4()),
            enterprise_id="unit-1",
            trigger="complaint",
            trigger_ref="complaint-1",
        ),
    ]
    response = await world.sync(LI, made)
    assert statuses(response) == ["rejected", "rejected", "applied"]
    assert [o["code"] for o in response.json()["outcomes"][:2]] == [
        "OPERATION_INVALID",
        "COMPLAINT_NOT_FOUND",
    ]
    detail = await world.detail(made[2]["inspection_id"])
    assert (detail["trigger"], detail["trigger_ref"]) == ("complaint", "complaint-1")
    listed = await world.client.get(
        "/inspections", params={"trigger": "complaint"}, headers=world.headers(WENSHUI)
    )
    assert [i["id"] for i in listed.json()["items"]] == [made[2]["inspection_id"]]


async def test_a_result_recorded_before_the_submission_but_uploaded_after_it_still_counts(
    world: World,
) -> None:
    checklist = await checklist_of(world, "unit-1")
    phone = Phone(LI)
    inspection = str(uuid.uuid4())
    create, start = (
        phone.op("create", inspection, enterprise_id="unit-1"),
        phone.op("start", inspection, base_version=1),
    )
    all_pass = phone.op("record", inspection, base_version=1, results=answers(checklist))
    one_fails = phone.op(
        "record", inspection, base_version=1, results={"1.1": {"result": "fail", "note": "未建立管理制度"}}
    )
    submit = phone.op("submit", inspection, base_version=1, conclusion="现场检查结束")
    assert statuses(await world.sync(LI, [create, start, all_pass, submit])) == ["applied"] * 4
    assert (await world.detail(inspection))["findings"] == []

    assert statuses(await world.sync(LI, [one_fails])) == ["applied"]  # the lost upload, retried
    detail = await world.detail(inspection)
    assert detail["status"] == "submitted" and detail["results"]["1.1"]["result"] == "fail"
    assert [f["item_id"] for f in detail["findings"]] == ["1.1"]
