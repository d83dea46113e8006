"""Roster, double-random plans and the half-year visit duty over a real database and a real NATS."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from services.common.auth import Caller
from services.common.db import CHINA, today_cn
from services.common.events import (
    CLASS_CHANGED,
    ENTERPRISE_REGISTERED,
    ClassChanged,
    ClassReason,
    EnterpriseRegistered,
    make_event,
)
from services.common.ids import new_id
from services.common.settings import Settings
from services.inspection import draw
from services.inspection.app import create_app as inspection_app
from services.inspection.checklists import build_checklist
from services.inspection.models import Inspection, InspectionPlan, KnownEnterprise, PlanEntry
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

TODAY = today_cn()
STATION = Caller(username="kaizha", role="regulator", region_code="141121001")


@asynccontextmanager
async def inspection(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = inspection_app(settings)
    async with serving(app) as client:
        yield app, client


def unit(unit_id: str, serial: int, region: str = "141121", **fields: Any) -> KnownEnterprise:
    return KnownEnterprise(
        id=unit_id,
        region_code=region,
        name=fields.pop("name", f"单位 {unit_id}"),
        kind=fields.pop("kind", "production"),
        uscc=make_uscc(serial, region),
        **fields,
    )


async def add(app: FastAPI, *rows: Any) -> None:
    async with app.state.db.transaction() as session:
        session.add_all(rows)


def visit(
    unit_id: str, *, submitted: datetime | None, received: datetime | None = None, status: str = "submitted"
) -> Inspection:
    at = received or submitted or datetime.now(UTC)
    return Inspection(
        id=new_id(),
        enterprise_id=unit_id,
        region_code="141121",
        trigger="adhoc",
        template="production",
        template_version="1",
        status=status,
        inspectors='["li", "wang"]',
        device_submitted_at=submitted,
        received_at=received,
        created_by="test",
        created_at=at,
        updated_at=at,
    )


def days_ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


async def roster(
    client: httpx.AsyncClient, settings: Settings, caller: Caller = WENSHUI, **people: str
) -> None:
    for username, region in people.items():
        response = await client.put(
            f"/inspectors/{username}",
            json={"name": f"执法员{username}", "region_code": region},
            headers=identity(settings, caller),
        )
        assert response.status_code in (200, 201), response.text


WENSHUI_ROSTER = {
    "li": "141121",
    "wang": "141121",
    "zhang": "141121001",
    "zhao": "141121002",
    "chen": "141121",
}


async def county(app: FastAPI, client: httpx.AsyncClient, settings: Settings) -> None:
    """A county with locked, key, special and routine units, some visited, and a roster of five."""
    await add(
        app,
        unit(
            "locked-due",
            1,
            locked=True,
            supervision_class="key",
            visit_every_months=6,
            locked_since=TODAY - timedelta(days=200),
            responsible_inspector="li",
        ),
        unit(
            "locked-recent",
            2,
            locked=True,
            supervision_class="key",
            visit_every_months=6,
            locked_since=TODAY - timedelta(days=400),
            responsible_inspector="wang",
        ),
        unit(
            "locked-old-visit",
            3,
            locked=True,
            supervision_class="special",
            visit_every_months=6,
            locked_since=TODAY - timedelta(days=400),
        ),
        unit("key-never", 4, supervision_class="key"),
        unit("key-recent", 5, supervision_class="key"),
        unit("special-old", 6, supervision_class="special", kind="sales", sales_channel="retail"),
        *(unit(f"routine-{n}", 10 + n, station_code="141121001" if n < 4 else None) for n in range(10)),
        unit("suspended", 30, operating_status="production_suspended"),
        unit("deregistered", 31, operating_status="deregistered", locked=True),
        unit("neighbour", 32, region="141122", locked=True),
        unit("neighbour-routine", 33, region="141122"),
    )
    await add(
        app,
        visit("locked-recent", submitted=days_ago(30)),
        visit("locked-old-visit", submitted=days_ago(220), received=days_ago(219)),
        visit("key-recent", submitted=None, received=days_ago(20), status="reviewed"),
        visit("special-old", submitted=days_ago(250)),
        # Planned or in progress is not a visit.
        visit("locked-due", submitted=None, received=days_ago(3), status="planned"),
    )
    await roster(client, settings, **WENSHUI_ROSTER)
    await roster(client, settings, caller=JIAOCHENG, liu="141122", sun="141122")


def plan_body(**fields: Any) -> dict[str, Any]:
    return {
        "region_code": "141121",
        "period_start": TODAY.isoformat(),
        "period_end": (TODAY + timedelta(days=30)).isoformat(),
        "ratio": 0.3,
        **fields,
    }


def by_unit(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["enterprise_id"]: entry for entry in plan["entries"]}


# ------------------------------------------------------------------------------------------------ roster


async def test_the_roster_and_conflicts_of_interest_are_kept_per_jurisdiction(settings: Settings) -> None:
    async with inspection(settings) as (app, client):
        await add(app, unit("u1", 1), unit("u2", 2), unit("far", 3, region="141122"))
        wenshui, jiaocheng = identity(settings, WENSHUI), identity(settings, JIAOCHENG)
        created = await client.put(
            "/inspectors/li", json={"name": " 李明 ", "region_code": "141121001"}, headers=wenshui
        )
        assert created.status_code == 201, created.text
        assert created.json()["name"] == "李明" and created.json()["active"] is True
        updated = await client.put(
            "/inspectors/li", json={"name": "李明", "region_code": "141121", "active": False}, headers=wenshui
        )
        assert updated.status_code == 200 and updated.json()["active"] is False
        assert updated.json()["region_code"] == "141121"
        await client.put("/inspectors/wang", json={"name": "王芳", "region_code": "141121"}, headers=wenshui)

        listed = (await client.get("/inspectors", headers=wenshui)).json()
        assert [i["username"] for i in listed["items"]] == ["li", "wang"]
        active = (await client.get("/inspectors", params={"active": "true"}, headers=wenshui)).json()
        assert [i["username"] for i in active["items"]] == ["wang"]
        page = (await client.get("/inspectors", params={"limit": 1}, headers=wenshui)).json()
        assert [i["username"] for i in page["items"]] == ["li"] and page["next_cursor"]
        rest = await client.get(
            "/inspectors", params={"limit": 1, "cursor": page["next_cursor"]}, headers=wenshui
        )
        assert [i["username"] for i in rest.json()["items"]] == ["wang"]

        declared = await client.post(
            "/inspectors/wang/conflicts",
            json={"enterprise_id": "u1", "reason": "配偶任该单位质量安全总监"},
            headers=wenshui,
        )
        assert declared.status_code == 201, declared.text
        conflict = declared.json()["conflicts"][0]
        assert (conflict["enterprise_id"], conflict["declared_by"]) == ("u1", "wenshui")
        again = await client.post(
            "/inspectors/wang/conflicts", json={"enterprise_id": "u1", "reason": "重复"}, headers=wenshui
        )
        assert (again.status_code, again.json()["code"]) == (409, "INSPECTOR_CONFLICT_EXISTS")
        unknown = await client.post(
            "/inspectors/wang/conflicts", json={"enterprise_id": "far", "reason": "x"}, headers=wenshui
        )
        assert (unknown.status_code, unknown.json()["code"]) == (404, "ENTERPRISE_NOT_FOUND")
        assert (await client.get("/inspectors/wang", headers=wenshui)).json()["conflicts"][0][
            "enterprise_id"
        ] == "u1"

        # The neighbour county sees none of it and can change none of it.
        assert (await client.get("/inspectors", headers=jiaocheng)).json()["items"] == []
        assert (
            await client.get("/inspectors", params={"region": "141121"}, headers=jiaocheng)
        ).status_code == 403
        assert (await client.get("/inspectors/wang", headers=jiaocheng)).status_code == 404
        taken = await client.put(
            "/inspectors/wang", json={"name": "冒名", "region_code": "141122"}, headers=jiaocheng
        )
        assert (taken.status_code, taken.json()["code"]) == (404, "INSPECTOR_NOT_FOUND")
        assert (
            await client.post(
                "/inspectors/wang/conflicts", json={"enterprise_id": "u2", "reason": "x"}, headers=jiaocheng
            )
        ).status_code == 404
        assert (await client.delete("/inspectors/wang/conflicts/u1", headers=jiaocheng)).status_code == 404
        outside = await client.put(
            "/inspectors/liu", json={"name": "刘", "region_code": "141121"}, headers=jiaocheng
        )
        assert (outside.status_code, outside.json()["code"]) == (403, "REGION_OUT_OF_JURISDICTION")
        city = await client.put(
            "/inspectors/liu", json={"name": "刘", "region_code": "141100"}, headers=jiaocheng
        )
        assert (city.status_code, city.json()["code"]) == (422, "REGION_NOT_COUNTY_OR_STATION")
        # The province above sees both counties' rosters.
        assert [
            i["username"]
            for i in (await client.get("/inspectors", headers=identity(settings, SX_PROVINCE))).json()[
                "items"
            ]
        ] == ["li", "wang"]
        # A station sees its own inspectors only.
        assert (await client.get("/inspectors", headers=identity(settings, STATION))).json()["items"] == []

        withdrawn = await client.delete("/inspectors/wang/conflicts/u1", headers=wenshui)
        assert withdrawn.status_code == 200 and withdrawn.json()["conflicts"] == []
        assert (await client.delete("/inspectors/wang/conflicts/u1", headers=wenshui)).status_code == 404

        enterprise = Caller(username="ent", role="enterprise", region_code="141121", uscc=make_uscc(1))
        assert (await client.get("/inspectors", headers=identity(settings, enterprise))).status_code == 403
        assert (await client.get("/plans", headers=identity(settings, enterprise))).status_code == 403
        assert (await client.get("/visit-duty", headers=identity(settings, enterprise))).status_code == 403


# ------------------------------------------------------------------------------------------------ plans


async def test_a_plan_holds_the_units_due_plus_the_draw_at_the_ratio_with_two_eligible_inspectors_each(
    settings: Settings,
) -> None:
    async with inspection(settings) as (app, client):
        await county(app, client, settings)
        wenshui = identity(settings, WENSHUI)
        await client.put(
            "/inspectors/chen", json={"name": "陈", "region_code": "141121", "active": False}, headers=wenshui
        )
        await client.post(
            "/inspectors/zhang/conflicts",
            json={"enterprise_id": "locked-old-visit", "reason": "亲属"},
            headers=wenshui,
        )
        response = await client.post("/plans", json=plan_body(), headers=wenshui)
        assert response.status_code == 201, response.text
        plan = response.json()
        entries = by_unit(plan)
        must = {unit_id: e["reason"] for unit_id, e in entries.items() if e["reason"] != "random"}
        # Locked and never visited since locking 200 days ago, locked and visited 220 days ago, key never visited,
        # special visited 250 days ago: due. Locked visited 30 days ago, key reviewed 20 days ago: not due.
        assert must == {
            "locked-due": "locked_due",
            "locked-old-visit": "locked_due",
            "key-never": "key_due",
            "special-old": "special_due",
        }
        assert entries["locked-due"]["due_on"] == draw.add_months(TODAY - timedelta(days=200), 6).isoformat()
        # The rest of the active units — 10 routine, locked-recent, key-recent; not suspended, closed or the
        # neighbour's — are drawn at 30 %, rounded up: 12 × 0.3 = 3.6 → 4.
        assert plan["candidate_count"] == 12 and plan["drawn_count"] == 4 and plan["must_visit_count"] == 4
        assert sorted(plan["inputs"]["candidates"]) == sorted(
            [f"routine-{n}" for n in range(10)] + ["locked-recent", "key-recent"]
        )
        random = [e for e in plan["entries"] if e["reason"] == "random"]
        assert len(random) == 4 and [e["draw_position"] for e in random] == [1, 2, 3, 4]
        assert not {"suspended", "deregistered", "neighbour", "neighbour-routine"} & set(entries)
        assert plan["status"] == "draft" and plan["algorithm"] == "sha256-rank-v1" and len(plan["seed"]) == 32
        for entry in plan["entries"]:
            assert len(entry["inspectors"]) == 2 and not entry["flagged"], entry
            assert set(entry["inspectors"]) <= {
                "li",
                "wang",
                "zhang",
                "zhao",
            }  # chen is inactive, liu/sun not ours
            assert entry["inspector_names"] == [f"执法员{u}" for u in entry["inspectors"]]
        assert "li" not in entries["locked-due"]["inspectors"]  # its own responsible inspector
        assert "zhang" not in entries["locked-old-visit"]["inspectors"]  # declared a conflict
        if "locked-recent" in entries:
            assert "wang" not in entries["locked-recent"]["inspectors"]
        assert (await client.get(f"/plans/{plan['id']}", headers=wenshui)).json() == plan

        # Where the province lets the responsible inspector go, he may be drawn.
        allowed = (
            await client.post(
                "/plans", json=plan_body(exclude_responsible_inspector=False, seed="x"), headers=wenshui
            )
        ).json()
        assert allowed["exclude_responsible_inspector"] is False
        assert allowed["inputs"]["responsible"]["locked-due"] == "li"

        # A station plans for its own units with its own inspectors.
        station = await client.post(
            "/plans", json=plan_body(region_code="141121001", ratio=1), headers=identity(settings, STATION)
        )
        assert station.status_code == 201, station.text
        assert sorted(by_unit(station.json())) == [f"routine-{n}" for n in range(4)]
        assert all(
            e["flagged"] and e["eligible_inspectors"] == 1 for e in station.json()["entries"]
        )  # zhang alone


async def test_the_same_seed_draws_the_same_plan_another_seed_another_and_verify_recomputes_it(
    settings: Settings,
) -> None:
    async with inspection(settings) as (app, client):
        await county(app, client, settings)
        wenshui = identity(settings, WENSHUI)
        lottery = "体彩排列五 2026318 期 3 8 1 6 0"
        first = (await client.post("/plans", json=plan_body(seed=lottery), headers=wenshui)).json()
        second = (await client.post("/plans", json=plan_body(seed=lottery), headers=wenshui)).json()
        other = (
            await client.post("/plans", json=plan_body(seed="体彩排列五 2026319 期"), headers=wenshui)
        ).json()
        assert first["seed"] == lottery and first["id"] != second["id"]

        def draw_of(plan: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
            return [(e["enterprise_id"], e["reason"], e["inspectors"]) for e in plan["entries"]]

        assert draw_of(first) == draw_of(second) and first["inputs_sha256"] == second["inputs_sha256"]
        assert draw_of(other) != draw_of(first)
        assert {e["enterprise_id"] for e in other["entries"] if e["reason"] == "random"} != {
            e["enterprise_id"] for e in first["entries"] if e["reason"] == "random"
        }
        # Anyone can re-run it from what the plan shows.
        inputs = draw.inputs_from_json(first["inputs"])
        assert draw.inputs_digest(inputs) == first["inputs_sha256"]
        assert [e["enterprise_id"] for e in first["entries"] if e["reason"] == "random"] == list(
            draw.run(inputs).drawn
        )

        verified = await client.get(f"/plans/{first['id']}/verify", headers=wenshui)
        assert verified.status_code == 200
        assert verified.json()["matches"] is True and verified.json()["inputs_intact"] is True
        assert verified.json()["mismatches"] == []

        # Someone swaps an inspector in the database: verification says so, and where.
        victim = first["entries"][0]
        async with app.state.db.transaction() as session:
            await session.execute(
                update(PlanEntry)
                .where(PlanEntry.plan_id == first["id"], PlanEntry.enterprise_id == victim["enterprise_id"])
                .values(inspectors=json.dumps(["zhang", "liu"]))
            )
        tampered = (await client.get(f"/plans/{first['id']}/verify", headers=wenshui)).json()
        assert tampered["matches"] is False and tampered["inputs_intact"] is True
        assert tampered["mismatches"] == [
            {
                "enterprise_id": victim["enterprise_id"],
                "recorded": ["zhang", "liu"],
                "recomputed": victim["inspectors"],
            }
        ]
        # ... or rewrites the recorded inputs to fit another result: the published digest no longer matches.
        async with app.state.db.transaction() as session:
            plan = await session.get(InspectionPlan, second["id"])
            summary = json.loads(plan.summary)
            summary["inputs"]["count"] -= 1
            plan.summary = json.dumps(summary)
        rewritten = (await client.get(f"/plans/{second['id']}/verify", headers=wenshui)).json()
        assert rewritten["inputs_intact"] is False and rewritten["matches"] is False

        # Every draw stays listed, drafts included.
        listed = (await client.get("/plans", headers=wenshui)).json()["items"]
        assert [p["id"] for p in listed] == [first["id"], second["id"], other["id"]]
        assert (await client.get("/plans", params={"status": "published"}, headers=wenshui)).json()[
            "items"
        ] == []


async def test_publishing_creates_planned_inspections_and_announces_the_draw(settings: Settings) -> None:
    async with inspection(settings) as (app, client):
        await county(app, client, settings)
        wenshui = identity(settings, WENSHUI)
        plan = (await client.post("/plans", json=plan_body(ratio=0.5), headers=wenshui)).json()
        published = await client.post(f"/plans/{plan['id']}/publish", headers=wenshui)
        assert published.status_code == 200, published.text
        body = published.json()
        assert body["status"] == "published" and body["published_at"]
        assert all(e["inspection_id"] for e in body["entries"])

        async with app.state.db.session() as session:
            rows = (
                (await session.execute(select(Inspection).where(Inspection.plan_id == plan["id"])))
                .scalars()
                .all()
            )
            units = {u.id: u for u in (await session.execute(select(KnownEnterprise))).scalars()}
        assert len(rows) == len(plan["entries"]) == plan["must_visit_count"] + plan["drawn_count"]
        entries = by_unit(body)
        for row in rows:
            entry = entries[row.enterprise_id]
            assert row.id == entry["inspection_id"] and row.status == "planned"
            assert (row.trigger, row.trigger_ref, row.created_by) == ("plan", plan["id"], "wenshui")
            assert json.loads(row.inspectors) == entry["inspectors"] and len(json.loads(row.inspectors)) == 2
            unit_row = units[row.enterprise_id]
            template, version, items = build_checklist(unit_row.kind, json.loads(unit_row.risk_points))
            assert (row.template, row.template_version, json.loads(row.checklist)) == (
                template,
                version,
                items,
            )

        async def announced() -> list[dict[str, Any]]:
            events = await stream_events(settings, "qsr.inspection.plan.published", stream="QSR_INSPECTION")
            assert len(events) == 1
            return events

        event = (await eventually(announced))[0]
        assert event["region"] == "141121" and event["data"]["plan_id"] == plan["id"]
        assert event["data"]["seed"] == plan["seed"] and event["data"]["algorithm"] == "sha256-rank-v1"
        assert (event["data"]["must_visit"], event["data"]["drawn"]) == (4, 6)
        assert (
            event["data"]["inputs_sha256"] == plan["inputs_sha256"] and event["data"]["candidate_count"] == 12
        )

        # Published means fixed: no second publication, and verification still holds.
        again = await client.post(f"/plans/{plan['id']}/publish", headers=wenshui)
        assert (again.status_code, again.json()["code"]) == (409, "PLAN_ALREADY_PUBLISHED")
        async with app.state.db.session() as session:
            count = len(
                (await session.execute(select(Inspection.id).where(Inspection.plan_id == plan["id"]))).all()
            )
        assert count == len(rows)
        assert (await client.get(f"/plans/{plan['id']}/verify", headers=wenshui)).json()["matches"] is True
        listed = (await client.get("/plans", params={"status": "published"}, headers=wenshui)).json()["items"]
        assert [p["id"] for p in listed] == [plan["id"]]


async def test_a_unit_without_two_eligible_inspectors_is_flagged_and_the_plan_cannot_be_published(
    settings: Settings,
) -> None:
    async with inspection(settings) as (app, client):
        await add(app, unit("locked", 1, locked=True, responsible_inspector="li"), unit("other", 2))
        await roster(client, settings, li="141121", wang="141121")
        wenshui = identity(settings, WENSHUI)
        plan = (await client.post("/plans", json=plan_body(ratio=1), headers=wenshui)).json()
        entries = by_unit(plan)
        assert entries["locked"]["flagged"] is True and entries["locked"]["inspectors"] == []
        assert entries["locked"]["eligible_inspectors"] == 1
        assert sorted(entries["other"]["inspectors"]) == ["li", "wang"] and not entries["other"]["flagged"]
        assert plan["flagged_count"] == 1
        refused = await client.post(f"/plans/{plan['id']}/publish", headers=wenshui)
        assert (refused.status_code, refused.json()["code"]) == (409, "PLAN_UNSTAFFED")
        assert refused.json()["enterprise_ids"] == ["locked"]
        async with app.state.db.session() as session:
            assert (await session.execute(select(Inspection.id))).all() == []
        assert (await client.get(f"/plans/{plan['id']}", headers=wenshui)).json()["status"] == "draft"
        # One more inspector on the roster, and a new plan can be staffed and published.
        await roster(client, settings, zhao="141121002")
        staffed = (await client.post("/plans", json=plan_body(ratio=1), headers=wenshui)).json()
        assert staffed["flagged_count"] == 0
        assert (await client.post(f"/plans/{staffed['id']}/publish", headers=wenshui)).status_code == 200


async def test_plans_are_input_checked_and_kept_within_the_jurisdiction(settings: Settings) -> None:
    async with inspection(settings) as (app, client):
        await county(app, client, settings)
        wenshui, jiaocheng = identity(settings, WENSHUI), identity(settings, JIAOCHENG)
        plan = (await client.post("/plans", json=plan_body(), headers=wenshui)).json()

        refused = await client.post("/plans", json=plan_body(), headers=jiaocheng)
        assert (refused.status_code, refused.json()["code"]) == (403, "REGION_OUT_OF_JURISDICTION")
        for path in (f"/plans/{plan['id']}", f"/plans/{plan['id']}/verify"):
            assert (await client.get(path, headers=jiaocheng)).status_code == 404
        assert (await client.post(f"/plans/{plan['id']}/publish", headers=jiaocheng)).status_code == 404
        assert (await client.get("/plans", headers=jiaocheng)).json()["items"] == []
        assert (await client.get("/plans", params={"region": "141121"}, headers=jiaocheng)).status_code == 403
        # The neighbour's own plan has only its own units and inspectors.
        own = (
            await client.post("/plans", json=plan_body(region_code="141122", ratio=1), headers=jiaocheng)
        ).json()
        assert sorted(by_unit(own)) == ["neighbour", "neighbour-routine"]
        assert all(sorted(e["inspectors"]) == ["liu", "sun"] for e in own["entries"])
        # The province sees both; a station does not see the county's plan.
        province = (await client.get("/plans", headers=identity(settings, SX_PROVINCE))).json()["items"]
        assert [p["id"] for p in province] == [plan["id"], own["id"]]
        assert (
            await client.get(f"/plans/{plan['id']}", headers=identity(settings, STATION))
        ).status_code == 404

        checks = [
            ({"period_end": (TODAY - timedelta(days=1)).isoformat()}, "PLAN_PERIOD_INVALID"),
            ({"period_end": (TODAY + timedelta(days=400)).isoformat()}, "PLAN_PERIOD_INVALID"),
            ({"ratio": 1.5}, "VALIDATION_FAILED"),
            ({"ratio": -0.1}, "VALIDATION_FAILED"),
            ({"seed": "   "}, "VALIDATION_FAILED"),
            ({"region_code": "141100"}, "REGION_NOT_COUNTY_OR_STATION"),
            ({"region_code": "1411"}, "VALIDATION_FAILED"),
            ({"period_start": "soon"}, "VALIDATION_FAILED"),
        ]
        for change, code in checks:
            response = await client.post("/plans", json=plan_body(**change), headers=wenshui)
            assert (response.status_code, response.json()["code"]) == (422, code), change
        assert (await client.get("/plans/no-such-plan", headers=wenshui)).status_code == 404
        bad_cursor = await client.get("/plans", params={"cursor": "???"}, headers=wenshui)
        assert bad_cursor.status_code == 422


# ------------------------------------------------------------------------------------------------ one open visit


async def county_and_station(app: FastAPI, client: httpx.AsyncClient, settings: Settings) -> None:
    """Two units the station must visit, two more of the station, two of the county; two inspectors each."""
    await add(
        app,
        unit(
            "l1",
            1,
            locked=True,
            supervision_class="key",
            visit_every_months=6,
            locked_since=TODAY - timedelta(days=200),
            station_code="141121001",
        ),
        unit("k1", 2, supervision_class="key", station_code="141121001"),
        unit("s1", 3, station_code="141121001"),
        unit("s2", 4, station_code="141121001"),
        unit("c1", 5),
        unit("c2", 6),
    )
    await roster(client, settings, li="141121", wang="141121", zhang="141121001", zhao="141121001")


async def published(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    plan = await client.post("/plans", json=plan_body(**body), headers=headers)
    assert plan.status_code == 201, plan.text
    response = await client.post(f"/plans/{plan.json()['id']}/publish", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def phone(
    client: httpx.AsyncClient, settings: Settings, inspection_id: str, inspector: str, kind: str
) -> None:
    """One of the inspection's inspectors starts it (``start``) or submits it all ✓ (``submit``) on the phone."""
    caller = Caller(username=inspector, role="regulator", region_code="141121")
    headers = identity(settings, caller)
    assigned = (await client.get("/assignments", headers=headers)).json()["items"]
    task = next(item for item in assigned if item["id"] == inspection_id)
    op: dict[str, Any] = {
        "type": kind,
        "inspection_id": inspection_id,
        "device_id": f"phone-{new_id()}",
        "device_seq": 1,
        "device_time": datetime.now(CHINA).replace(tzinfo=None).isoformat(timespec="seconds"),
        "base_version": task["version"],
    }
    if kind == "submit":
        op["results"] = {item["id"]: {"result": "pass", "note": ""} for item in task["checklist"]}
    synced = await client.post("/inspections/sync", json={"operations": [op]}, headers=headers)
    assert synced.status_code == 200 and synced.json()["applied"] == 1, synced.text


async def open_plan_visits(app: FastAPI) -> dict[str, list[str]]:
    """Each unit's open inspections made by plans (their plan ids)."""
    async with app.state.db.session() as session:
        rows = (
            await session.execute(
                select(Inspection.enterprise_id, Inspection.plan_id).where(
                    Inspection.plan_id.is_not(None), Inspection.status.in_(("planned", "in_progress"))
                )
            )
        ).all()
    found: dict[str, list[str]] = {}
    for enterprise_id, plan_id in rows:
        found.setdefault(enterprise_id, []).append(plan_id)
    return found


async def test_a_unit_with_an_open_inspection_of_a_published_plan_is_left_out_of_another_until_it_is_done(
    settings: Settings,
) -> None:
    async with inspection(settings) as (app, client):
        await county_and_station(app, client, settings)
        wenshui, station = identity(settings, WENSHUI), identity(settings, STATION)
        # The county visits the two units due (ratio 0: no draw).
        county_plan = await published(client, wenshui, ratio=0)
        assert sorted(by_unit(county_plan)) == ["k1", "l1"]
        opened = {e["enterprise_id"]: e["inspection_id"] for e in county_plan["entries"]}

        # The station's plan of the same month leaves them out, and says why.
        drawn = await client.post("/plans", json=plan_body(region_code="141121001", ratio=1), headers=station)
        assert drawn.status_code == 201, drawn.text
        plan = drawn.json()
        assert sorted(by_unit(plan)) == ["s1", "s2"]
        assert (plan["must_visit_count"], plan["candidate_count"], plan["drawn_count"]) == (0, 2, 2)
        assert plan["inputs"]["already_planned"] == [
            {"enterprise_id": "k1", "inspection_id": opened["k1"], "plan_id": county_plan["id"]},
            {"enterprise_id": "l1", "inspection_id": opened["l1"], "plan_id": county_plan["id"]},
        ]
        # Still verifiable, by the service and by anyone from what the plan shows; the list is in the digest.
        verified = (await client.get(f"/plans/{plan['id']}/verify", headers=station)).json()
        assert verified["matches"] is True and verified["inputs_intact"] is True
        assert draw.inputs_digest(draw.inputs_from_json(plan["inputs"])) == plan["inputs_sha256"]
        async with app.state.db.transaction() as session:
            row = await session.get(InspectionPlan, plan["id"])
            summary = json.loads(row.summary)
            summary["inputs"]["already_planned"].pop()
            kept = row.summary
            row.summary = json.dumps(summary)
        forged = (await client.get(f"/plans/{plan['id']}/verify", headers=station)).json()
        assert forged["inputs_intact"] is False and forged["matches"] is False
        async with app.state.db.transaction() as session:
            (await session.get(InspectionPlan, plan["id"])).summary = kept
        station_plan = (await client.post(f"/plans/{plan['id']}/publish", headers=station)).json()
        assert station_plan["status"] == "published"

        # The county's next campaign finds all four station units planned, by either plan.
        again = (await client.post("/plans", json=plan_body(ratio=1, seed="2"), headers=wenshui)).json()
        assert sorted(by_unit(again)) == ["c1", "c2"]
        assert {item["enterprise_id"]: item["plan_id"] for item in again["inputs"]["already_planned"]} == {
            "k1": county_plan["id"],
            "l1": county_plan["id"],
            "s1": plan["id"],
            "s2": plan["id"],
        }

        # l1 is visited and submitted; k1's visit is only under way, so it still holds k1.
        l1_inspector = by_unit(county_plan)["l1"]["inspectors"][0]
        await phone(client, settings, opened["l1"], l1_inspector, "submit")
        await phone(client, settings, opened["k1"], by_unit(county_plan)["k1"]["inspectors"][0], "start")
        later = (
            await client.post("/plans", json=plan_body(region_code="141121001", ratio=1), headers=station)
        ).json()
        # Visited today, l1 is no longer due: it comes back as an ordinary candidate, and is drawn.
        assert [(e["enterprise_id"], e["reason"]) for e in later["entries"]] == [("l1", "random")]
        assert [item["enterprise_id"] for item in later["inputs"]["already_planned"]] == ["k1", "s1", "s2"]
        assert (await client.post(f"/plans/{later['id']}/publish", headers=station)).status_code == 200
        assert (await client.get(f"/plans/{later['id']}/verify", headers=station)).json()["matches"] is True
        assert await open_plan_visits(app) == {
            "k1": [county_plan["id"]],
            "l1": [later["id"]],
            "s1": [plan["id"]],
            "s2": [plan["id"]],
        }


async def test_a_draft_drawn_before_an_overlapping_plan_was_published_is_refused_and_writes_nothing(
    settings: Settings,
) -> None:
    async with inspection(settings) as (app, client):
        await county_and_station(app, client, settings)
        wenshui, station = identity(settings, WENSHUI), identity(settings, STATION)
        county_draft = (await client.post("/plans", json=plan_body(ratio=1), headers=wenshui)).json()
        assert sorted(by_unit(county_draft)) == ["c1", "c2", "k1", "l1", "s1", "s2"]
        assert "already_planned" not in county_draft["inputs"]  # nothing left out: the record as before
        station_plan = await published(client, station, region_code="141121001", ratio=1)

        refused = await client.post(f"/plans/{county_draft['id']}/publish", headers=wenshui)
        assert (refused.status_code, refused.json()["code"]) == (409, "PLAN_UNITS_ALREADY_PLANNED")
        assert refused.json()["enterprise_ids"] == ["k1", "l1", "s1", "s2"]
        assert "重新制定计划" in refused.json()["detail"]
        after = (await client.get(f"/plans/{county_draft['id']}", headers=wenshui)).json()
        assert after["status"] == "draft" and after["published_at"] is None
        assert all(e["inspection_id"] is None for e in after["entries"])
        async with app.state.db.session() as session:
            assert (
                await session.execute(select(Inspection.id).where(Inspection.plan_id == county_draft["id"]))
            ).all() == []
        assert await open_plan_visits(app) == {u: [station_plan["id"]] for u in ("k1", "l1", "s1", "s2")}
        # The draft still verifies; a new draw leaves the station's units out and can be published.
        verified = (await client.get(f"/plans/{county_draft['id']}/verify", headers=wenshui)).json()
        assert verified["matches"] is True
        redrawn = await published(client, wenshui, ratio=1)
        assert sorted(by_unit(redrawn)) == ["c1", "c2"]


async def test_two_overlapping_plans_published_at_the_same_moment_do_not_both_pass(
    settings: Settings,
) -> None:
    async with inspection(settings) as (app, client):
        await county_and_station(app, client, settings)
        wenshui, station = identity(settings, WENSHUI), identity(settings, STATION)
        for round_ in range(3):
            county_draft = (
                await client.post("/plans", json=plan_body(ratio=1, seed=f"c{round_}"), headers=wenshui)
            ).json()
            station_draft = (
                await client.post(
                    "/plans",
                    json=plan_body(region_code="141121001", ratio=1, seed=f"s{round_}"),
                    headers=station,
                )
            ).json()
            assert by_unit(county_draft) and by_unit(station_draft)
            answers = await asyncio.gather(
                client.post(f"/plans/{county_draft['id']}/publish", headers=wenshui),
                client.post(f"/plans/{station_draft['id']}/publish", headers=station),
            )
            assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
            assert (
                next(a for a in answers if a.status_code == 409).json()["code"]
                == "PLAN_UNITS_ALREADY_PLANNED"
            )
            open_visits = await open_plan_visits(app)
            assert all(len(plans) == 1 for plans in open_visits.values()), open_visits
            # Done with this round: every open visit is submitted, and the next round draws all units again.
            for inspection_id, inspectors in await open_inspections(app):
                await phone(client, settings, inspection_id, inspectors[0], "submit")


async def open_inspections(app: FastAPI) -> list[tuple[str, list[str]]]:
    async with app.state.db.session() as session:
        rows = (
            await session.execute(
                select(Inspection.id, Inspection.inspectors).where(
                    Inspection.status.in_(("planned", "in_progress"))
                )
            )
        ).all()
    return [(inspection_id, json.loads(inspectors)) for inspection_id, inspectors in rows]


async def test_a_record_made_before_already_planned_existed_keeps_its_form_and_digest() -> None:
    # A plan recorded before units could be left out: read back, it is the same record with the same digest.
    recorded = {
        "algorithm": "sha256-rank-v1",
        "seed": "体彩 2026001",
        "jurisdiction": "141121",
        "candidates": ["u1", "u2", "u3"],
        "count": 2,
        "must_visit": ["m1"],
        "roster": [{"username": "li", "region_code": "141121", "active": True, "conflicts": ["u1"]}],
        "responsible": {"m1": "wang"},
        "exclude_responsible": True,
    }
    inputs = draw.inputs_from_json(recorded)
    assert inputs.already_planned == () and draw.inputs_to_json(inputs) == recorded
    canonical = json.dumps(recorded, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert draw.inputs_digest(inputs) == hashlib.sha256(canonical.encode()).hexdigest()
    # A unit left out may be neither drawn nor visited anyway.
    with pytest.raises(ValueError):
        draw.inputs_from_json(
            {**recorded, "already_planned": [{"enterprise_id": "u2", "inspection_id": "i", "plan_id": "p"}]}
        )


# ------------------------------------------------------------------------------------------------ visit duty


def cn(day: date, hour: int = 12) -> datetime:
    """A moment on ``day`` in China, as UTC."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - timedelta(hours=8)


async def test_visit_duty_lists_last_visits_due_dates_and_the_overdue_over_a_simulated_half_year(
    settings: Settings,
) -> None:
    async with inspection(settings) as (app, client):
        await add(
            app,
            unit("never", 1, locked=True, locked_since=date(2026, 1, 10), visit_every_months=6),
            unit("recent", 2, locked=True, locked_since=date(2025, 6, 1), visit_every_months=6),
            unit("late-evening", 3, locked=True, locked_since=date(2025, 6, 1), visit_every_months=6),
            unit("received-only", 4, locked=True, locked_since=date(2025, 6, 1), visit_every_months=3),
            unit("unknown-since", 5, locked=True),
            unit("not-locked", 6, supervision_class="key"),
            unit("closed", 7, locked=True, operating_status="revoked", locked_since=date(2025, 1, 1)),
            unit("neighbour", 8, region="141122", locked=True, locked_since=date(2026, 1, 1)),
        )
        await add(
            app,
            visit("recent", submitted=cn(date(2026, 7, 20))),
            visit("recent", submitted=cn(date(2026, 2, 1)), status="reviewed"),
            # Submitted on the device at 01:00 on 1 April in China — still 31 March in UTC.
            visit("late-evening", submitted=cn(date(2026, 4, 1), hour=1)),
            visit("late-evening", submitted=None, received=cn(date(2026, 7, 30)), status="in_progress"),
            visit("received-only", submitted=None, received=cn(date(2026, 5, 2))),
        )
        wenshui = identity(settings, WENSHUI)

        async def duty(**params: Any) -> dict[str, Any]:
            response = await client.get("/visit-duty", params=params, headers=wenshui)
            assert response.status_code == 200, response.text
            return response.json()

        on_1_august = (await duty(as_of="2026-08-01"))["items"]
        rows = {row["enterprise_id"]: row for row in on_1_august}
        assert [row["enterprise_id"] for row in on_1_august] == [
            "unknown-since",  # never visited, locking date unknown: owed now
            "never",  # locked 10 Jan → due 10 Jul
            "received-only",  # received 2 May, every 3 months → due 2 Aug
            "late-evening",  # 1 Apr → due 1 Oct
            "recent",  # 20 Jul → due 20 Jan
        ]
        assert rows["unknown-since"]["next_due_on"] is None and rows["unknown-since"]["overdue"] is True
        assert (rows["never"]["next_due_on"], rows["never"]["overdue"], rows["never"]["days_overdue"]) == (
            "2026-07-10",
            True,
            22,
        )
        assert rows["never"]["last_visit_on"] is None and rows["never"]["locked_since"] == "2026-01-10"
        assert (rows["received-only"]["last_visit_on"], rows["received-only"]["next_due_on"]) == (
            "2026-05-02",
            "2026-08-02",
        )
        assert rows["received-only"]["overdue"] is False and rows["received-only"]["days_overdue"] == 0
        assert (
            rows["late-evening"]["last_visit_on"] == "2026-04-01"
            and rows["late-evening"]["next_due_on"] == "2026-10-01"
        )
        assert (
            rows["recent"]["last_visit_on"] == "2026-07-20" and rows["recent"]["next_due_on"] == "2027-01-20"
        )
        assert rows["recent"]["last_inspection_id"] and rows["recent"]["visit_every_months"] == 6

        overdue = await duty(as_of="2026-08-01", overdue="true")
        assert [row["enterprise_id"] for row in overdue["items"]] == ["unknown-since", "never"]
        # Time passes: a fortnight later the quarterly unit is overdue too; by November, so is the April visit.
        assert [r["enterprise_id"] for r in (await duty(as_of="2026-08-15", overdue="true"))["items"]] == [
            "unknown-since",
            "never",
            "received-only",
        ]
        november = (await duty(as_of="2026-11-01", overdue="true"))["items"]
        assert [r["enterprise_id"] for r in november] == [
            "unknown-since",
            "never",
            "received-only",
            "late-evening",
        ]
        assert november[-1]["days_overdue"] == 31

        # A visit made and submitted: the unit leaves the overdue list.
        await add(app, visit("never", submitted=cn(date(2026, 8, 5))))
        assert [r["enterprise_id"] for r in (await duty(as_of="2026-08-15", overdue="true"))["items"]] == [
            "unknown-since",
            "received-only",
        ]

        # Pages of one walk through the whole list in order.
        walked, cursor = [], None
        while True:
            page = await duty(as_of="2026-08-01", limit=1, **({"cursor": cursor} if cursor else {}))
            walked += [row["enterprise_id"] for row in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert walked == ["unknown-since", "received-only", "late-evening", "recent", "never"]
        assert (
            await client.get("/visit-duty", params={"cursor": "nope"}, headers=wenshui)
        ).status_code == 422

        # Jurisdiction: the neighbour sees only its own unit, and cannot ask for ours.
        jiaocheng = identity(settings, JIAOCHENG)
        theirs = (await client.get("/visit-duty", headers=jiaocheng)).json()["items"]
        assert [row["enterprise_id"] for row in theirs] == ["neighbour"]
        assert (
            await client.get("/visit-duty", params={"region": "141121"}, headers=jiaocheng)
        ).status_code == 403
        assert (
            len((await client.get("/visit-duty", headers=identity(settings, SX_PROVINCE))).json()["items"])
            == 6
        )


# ------------------------------------------------------------------------------------------------ real events


async def test_a_unit_locked_by_grading_over_nats_owes_a_visit_and_a_plan_must_include_it(
    settings: Settings,
) -> None:
    async with inspection(settings) as (app, client):
        registered = EnterpriseRegistered(
            enterprise_id="unit-gas",
            uscc=make_uscc(77),
            name="文水县燃气具有限公司",
            kind="production",
            sales_channel=None,
            region_code="141121",
            employees=120,
            revenue_wan_yuan=8000,
            entry_reason="spot_check",
            operating_status="normal",
        )
        locked = ClassChanged(
            enterprise_id="unit-gas",
            from_class="routine",
            to_class="key",
            reasons=[ClassReason(rule="spot_check_failed", text="监督抽查不合格")],
            locked=True,
            visit_every_months=6,
        )
        await publish_events(
            settings, make_event(ENTERPRISE_REGISTERED, registered, region="141121", enterprise_id="unit-gas")
        )

        async def known() -> None:
            async with app.state.db.session() as session:
                assert await session.get(KnownEnterprise, "unit-gas") is not None

        await eventually(known)
        await publish_events(
            settings, make_event(CLASS_CHANGED, locked, region="141121", enterprise_id="unit-gas")
        )
        wenshui = identity(settings, WENSHUI)

        async def owed() -> dict[str, Any]:
            items = (await client.get("/visit-duty", headers=wenshui)).json()["items"]
            assert len(items) == 1
            return items[0]

        row = await eventually(owed)
        assert row["enterprise_id"] == "unit-gas" and row["supervision_class"] == "key"
        assert row["locked_since"] == TODAY.isoformat() and row["last_visit_on"] is None
        assert row["next_due_on"] == draw.add_months(TODAY, 6).isoformat() and row["overdue"] is False
        seven_months = (
            await client.get(
                "/visit-duty",
                params={"as_of": draw.add_months(TODAY, 7).isoformat(), "overdue": "true"},
                headers=wenshui,
            )
        ).json()
        assert [r["enterprise_id"] for r in seven_months["items"]] == ["unit-gas"]

        await roster(client, settings, li="141121", wang="141121")
        short = (await client.post("/plans", json=plan_body(ratio=0), headers=wenshui)).json()
        assert short["entries"] == []  # due in six months, beyond a 30-day plan
        body = plan_body(ratio=0, period_end=draw.add_months(TODAY, 7).isoformat())
        plan = (await client.post("/plans", json=body, headers=wenshui)).json()
        assert [(e["enterprise_id"], e["reason"], e["name"]) for e in plan["entries"]] == [
            ("unit-gas", "locked_due", "文水县燃气具有限公司")
        ]
        assert (await client.post(f"/plans/{plan['id']}/publish", headers=wenshui)).status_code == 200
        async with app.state.db.session() as session:
            planned = (
                (await session.execute(select(Inspection).where(Inspection.enterprise_id == "unit-gas")))
                .scalars()
                .all()
            )
        assert len(planned) == 1 and planned[0].status == "planned"
        assert sorted(json.loads(planned[0].inspectors)) == ["li", "wang"]
