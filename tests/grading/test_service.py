"""Grading over a real database and a real NATS: events in, decisions out, with reasons, history and lists."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import nats
import pytest
import pytest_asyncio
from openpyxl import load_workbook
from sqlalchemy import func, select

from services.common.auth import Caller
from services.common.db import Database, migrate, today_cn
from services.common.events import (
    CLASS_CHANGED,
    CREDIT_RISK_ASSESSED,
    ENTERPRISE_REGISTERED,
    ENTERPRISE_UPDATED,
    ESCALATED,
    SPOT_CHECK_FAILED,
    SPOT_CHECK_OVERTURNED,
    CloudEvent,
    CreditRiskAssessed,
    EnterpriseRegistered,
    EventSpec,
    SpotCheckOverturned,
    SpotCheckRecorded,
    decode_payload,
    make_event,
)
from services.common.messaging import Batched, Delivery, OutboxMessage
from services.common.settings import Settings
from services.grading.app import create_app
from services.grading.events import BatchApplier
from services.grading.models import GradedEnterprise
from services.grading.service import recompute
from tests.harness import JIAOCHENG, SX_PROVINCE, WENSHUI, eventually, identity, make_uscc, serving

pytestmark = pytest.mark.asyncio

BAOSHAN = Caller(username="baoshan", role="regulator", region_code="310113")
LVLIANG = Caller(username="lvliang", role="regulator", region_code="141100")
TODAY = today_cn()


def registered(n: int, region: str = "141121", *, employees: int = 25, revenue: float = 1500) -> CloudEvent:
    payload = EnterpriseRegistered(
        enterprise_id=f"unit-{n}",
        uscc=make_uscc(n, region),
        name=f"测试单位{n}",
        kind="production",
        sales_channel=None,
        region_code=region,
        employees=employees,
        revenue_wan_yuan=revenue,
        entry_reason="license",
        operating_status="normal",
    )
    return make_event(ENTERPRISE_REGISTERED, payload, region=region, enterprise_id=payload.enterprise_id)


def failed(unit: str, check: str, days_ago: int = 1, region: str = "141121") -> CloudEvent:
    payload = SpotCheckRecorded(
        spot_check_id=check,
        enterprise_id=unit,
        product="燃气灶",
        batch="B1",
        verdict="failed",
        failed_items=["熄火保护"],
        sampled_on=TODAY - timedelta(days=days_ago),
    )
    return make_event(SPOT_CHECK_FAILED, payload, region=region, enterprise_id=unit)


def overturned(unit: str, check: str, region: str = "141121") -> CloudEvent:
    payload = SpotCheckOverturned(spot_check_id=check, enterprise_id=unit, decided_on=TODAY, note="复检合格")
    return make_event(SPOT_CHECK_OVERTURNED, payload, region=region, enterprise_id=unit)


async def publish(settings: Settings, *events: CloudEvent) -> None:
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        for event in events:
            spec = next(
                s
                for s in (
                    ENTERPRISE_REGISTERED,
                    ENTERPRISE_UPDATED,
                    SPOT_CHECK_FAILED,
                    SPOT_CHECK_OVERTURNED,
                    CREDIT_RISK_ASSESSED,
                )
                if s.type == event.type
            )
            await js.publish(
                spec.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.id}
            )
    finally:
        await nc.close()


@pytest_asyncio.fixture
async def grading(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_app(settings)) as client:
        yield client


async def decision_of(
    client: httpx.AsyncClient, settings: Settings, unit: str, caller: Caller = WENSHUI
) -> dict:
    response = await client.get(f"/enterprises/{unit}", headers=identity(settings, caller))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["decision"] is not None
    return body


async def published(settings: Settings, spec: EventSpec[Any], unit: str) -> list[dict]:
    """The events of one type grading has put on its stream for a unit, oldest first."""
    nc = await nats.connect(settings.nats_url)
    try:
        sub = await nc.jetstream().subscribe(spec.subject, stream="QSR_GRADING", ordered_consumer=True)
        found = []
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except nats.errors.TimeoutError:
                return found
            event = json.loads(msg.data)
            if event["enterpriseid"] == unit:
                found.append(event["data"])
    finally:
        await nc.close()


async def test_a_failed_spot_check_raises_to_key_and_an_overturning_retest_brings_it_back(
    settings: Settings, grading: httpx.AsyncClient
) -> None:
    await publish(settings, registered(1), failed("unit-1", "sc-1"))

    async def key() -> dict:
        # Registry's and inspection's streams are consumed apart: the failure may be applied first.
        body = await decision_of(grading, settings, "unit-1")
        assert body["decision"]["supervision_class"] == "key" and body["decision"]["tier"] == "C"
        return body

    body = await eventually(key)
    decision = body["decision"]
    assert (decision["pack"], decision["tier"], decision["responsible_level"]) == ("shanxi", "C", "county")
    assert decision["locked"] and decision["visit_every_months"] == 6
    assert decision["reasons"][0]["evidence"] == [body["signals"][0]["id"]]
    assert "重点监管" in decision["explanation"]

    await publish(settings, overturned("unit-1", "sc-1"))

    async def routine() -> dict:
        body = await decision_of(grading, settings, "unit-1")
        assert body["decision"]["supervision_class"] == "routine"
        return body

    decision = (await eventually(routine))["decision"]
    assert not decision["locked"] and decision["overturned_signals"]
    changes = await eventually(lambda: _changes(settings, "unit-1", 2))
    assert [(c["from_class"], c["to_class"], c["locked"]) for c in changes] == [
        ("routine", "key", True),
        ("key", "routine", False),
    ]
    history = (await grading.get("/enterprises/unit-1/history", headers=identity(settings, WENSHUI))).json()
    classes = [h["supervision_class"] for h in history["items"]]
    assert [c for c, _ in itertools.groupby(classes)] in (["routine", "key", "routine"], ["key", "routine"])
    first_key = next(h for h in history["items"] if h["supervision_class"] == "key")
    assert (
        first_key["cause"] == SPOT_CHECK_FAILED.type
        and history["items"][-1]["cause"] == SPOT_CHECK_OVERTURNED.type
    )


async def _changes(settings: Settings, unit: str, n: int) -> list[dict]:
    found = await published(settings, CLASS_CHANGED, unit)
    assert len(found) == n, found
    return found


async def test_two_failures_escalate_to_the_level_above_and_announce_it(
    settings: Settings, grading: httpx.AsyncClient
) -> None:
    await publish(settings, registered(2), failed("unit-2", "sc-1", 30), failed("unit-2", "sc-2", 3))

    async def escalated() -> dict:
        decision = (await decision_of(grading, settings, "unit-2"))["decision"]
        assert decision["escalated"] and decision["tier"] == "C"
        return decision

    decision = await eventually(escalated)
    # A tier-C unit is a county's; escalated, Lüliang city supervises it and the city may decide by hand.
    assert (decision["responsible_level"], decision["responsible_region"]) == ("city", "141100")
    assert decision["escalation_reasons"][0]["rule"] == "escalation.repeated_major_risk"

    async def announced() -> None:
        events = await published(settings, ESCALATED, "unit-2")
        assert len(events) == 1, events  # an assertion, so that eventually() retries
        [event] = events
        assert event["escalated"] and event["responsible_region"] == "141100"

    await eventually(announced)
    manual = {
        "supervision_class": "special",
        "reason": "挂牌督办期间从严监管",
        "expires_on": str(TODAY + timedelta(days=90)),
    }
    county = await grading.post(
        "/enterprises/unit-2/manual-decisions", json=manual, headers=identity(settings, WENSHUI)
    )
    assert county.status_code == 403 and county.json()["code"] == "GRADING_NOT_RESPONSIBLE_LEVEL"
    city = await grading.post(
        "/enterprises/unit-2/manual-decisions", json=manual, headers=identity(settings, LVLIANG)
    )
    assert city.status_code == 201, city.text
    assert city.json()["decision"]["supervision_class"] == "special"


async def test_manual_decisions_stricter_wins_and_both_are_shown_then_expire(
    settings: Settings, grading: httpx.AsyncClient
) -> None:
    await publish(settings, registered(3), failed("unit-3", "sc-1"))

    async def key() -> None:
        decision = (await decision_of(grading, settings, "unit-3"))["decision"]
        assert (decision["supervision_class"], decision["tier"]) == ("key", "C")  # both events applied

    await eventually(key)
    headers = identity(settings, WENSHUI)
    url = "/enterprises/unit-3/manual-decisions"
    later = str(TODAY + timedelta(days=30))

    missing_reason = await grading.post(
        url, json={"supervision_class": "special", "expires_on": later}, headers=headers
    )
    assert missing_reason.status_code == 422
    for expiry in (TODAY, TODAY + timedelta(days=400)):
        bad = await grading.post(
            url,
            json={"supervision_class": "special", "reason": "群众反映强烈", "expires_on": str(expiry)},
            headers=headers,
        )
        assert bad.status_code == 422 and bad.json()["code"] == "MANUAL_DECISION_EXPIRY_INVALID", bad.text
    neighbour = await grading.post(
        url,
        json={"supervision_class": "special", "reason": "越权尝试", "expires_on": later},
        headers=identity(settings, JIAOCHENG),
    )
    assert neighbour.status_code == 404

    lower = await grading.post(
        url,
        json={"supervision_class": "routine", "reason": "企业已整改到位", "expires_on": later},
        headers=headers,
    )
    assert lower.status_code == 201
    decision = lower.json()["decision"]
    assert decision["supervision_class"] == "key" and decision["class_source"] == "automatic"
    [overruled] = [r for r in decision["reasons"] if r["rule"] == "manual.overruled"]
    assert "以自动判定为准" in overruled["text"] and "企业已整改到位" in overruled["text"]

    stricter = await grading.post(
        url,
        json={"supervision_class": "special", "reason": "近期多次投诉", "expires_on": later},
        headers=headers,
    )
    body = stricter.json()
    assert body["decision"]["supervision_class"] == "special" and body["decision"]["class_source"] == "manual"
    assert body["decision"]["automatic_class"] == "key"
    assert [m["in_force"] for m in body["manual_decisions"]] == [True, True]

    # Past its expiry the manual decision no longer counts: the daily recompute brings the automatic class back.
    db: Database = grading._transport.app.state.db  # type: ignore[attr-defined]
    packs = grading._transport.app.state.packs  # type: ignore[attr-defined]
    await recompute(db, packs, today=TODAY + timedelta(days=31))
    async with db.session() as session:
        row = await session.get(GradedEnterprise, "unit-3")
    assert row is not None and (row.supervision_class, row.class_source) == ("key", "automatic")

    manual_id = body["manual_decisions"][1]["id"]
    revoked = await grading.post(f"{url}/{manual_id}/revoke", headers=headers)
    assert revoked.status_code == 200
    again = await grading.post(f"{url}/{manual_id}/revoke", headers=headers)
    assert again.status_code == 409 and again.json()["code"] == "MANUAL_DECISION_ALREADY_REVOKED"


async def test_windows_lapse_on_the_daily_recompute_and_annual_lists_freeze_at_year_end(
    settings: Settings, grading: httpx.AsyncClient
) -> None:
    await publish(settings, registered(4), failed("unit-4", "sc-1", days_ago=300), registered(5, "141122"))

    async def key() -> None:
        # Both events applied: the registration may come second, and only a unit of known kind is listed.
        decision = (await decision_of(grading, settings, "unit-4"))["decision"]
        assert (decision["supervision_class"], decision["tier"]) == ("key", "C")
        assert (await decision_of(grading, settings, "unit-5", JIAOCHENG))["decision"]["tier"] == "C"

    await eventually(key)
    listed = (
        await grading.get(f"/annual-lists/{TODAY.year}?kind=production", headers=identity(settings, WENSHUI))
    ).json()
    assert [i["enterprise_id"] for i in listed["items"]] == ["unit-4"] and not listed["frozen"]
    theirs = (await grading.get(f"/annual-lists/{TODAY.year}", headers=identity(settings, JIAOCHENG))).json()
    assert theirs["items"] == []

    db: Database = grading._transport.app.state.db  # type: ignore[attr-defined]
    packs = grading._transport.app.state.packs  # type: ignore[attr-defined]
    new_year = date(TODAY.year + 1, 1, 2)
    assert (await recompute(db, packs, today=new_year))["units"] == 2
    # The failure was sampled 300 days before today; on 2 January it may or may not have lapsed yet.
    lapse_day = TODAY - timedelta(days=300) + timedelta(days=365)
    result = await recompute(db, packs, today=lapse_day)
    assert result["changed"] == 1
    async with db.session() as session:
        row = await session.get(GradedEnterprise, "unit-4")
        outbox = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.type == "qsr.grading.class.changed.v1")
        )
    assert row is not None and row.supervision_class == "routine" and outbox == 2

    old = (await grading.get(f"/annual-lists/{TODAY.year}", headers=identity(settings, WENSHUI))).json()
    assert old["frozen"] and [i["enterprise_id"] for i in old["items"]] == ["unit-4"]
    if new_year < lapse_day:  # still key on 2 January: on the new year's list too
        nxt = (
            await grading.get(f"/annual-lists/{TODAY.year + 1}", headers=identity(settings, WENSHUI))
        ).json()
        assert [i["enterprise_id"] for i in nxt["items"]] == ["unit-4"]

    export = await grading.get(
        f"/annual-lists/{TODAY.year}/export.xlsx", headers=identity(settings, SX_PROVINCE)
    )
    assert export.status_code == 200
    book = load_workbook(io.BytesIO(export.content), read_only=True)
    assert book.sheetnames == ["生产单位", "销售单位"]
    rows = list(book["生产单位"].iter_rows(values_only=True))
    assert rows[1][:4] == ("序号", "单位名称", "单位ID", "行政区划代码")
    assert [r[2] for r in rows[2:]] == ["unit-4"]
    assert list(book["销售单位"].iter_rows(values_only=True))[2:] == []
    empty = await grading.get(
        f"/annual-lists/{TODAY.year}/export.xlsx", headers=identity(settings, JIAOCHENG)
    )
    assert (
        list(
            load_workbook(io.BytesIO(empty.content), read_only=True)["生产单位"].iter_rows(values_only=True)
        )[2:]
        == []
    )


async def test_signals_by_api_under_the_baoshan_pack_and_credit_that_arrives_before_the_unit(
    settings: Settings, grading: httpx.AsyncClient
) -> None:
    early = make_event(
        CREDIT_RISK_ASSESSED,
        CreditRiskAssessed(uscc=make_uscc(7, "310113"), credit_class="C", assessed_on=TODAY),
        region="310113",
        enterprise_id=None,
    )
    await publish(
        settings, early, registered(6, "310113", employees=400, revenue=100), registered(7, "310113")
    )
    headers = identity(settings, BAOSHAN)

    async def credit_applied() -> None:
        decision = (await decision_of(grading, settings, "unit-7", BAOSHAN))["decision"]
        assert (
            decision["supervision_class"] == "key" and decision["reasons"][0]["rule"] == "key.credit_higher"
        )
        assert not decision["locked"]  # Baoshan locks the penalised, not the merely credit-risky

    await eventually(credit_applied)

    async def tiered() -> dict:
        return (await decision_of(grading, settings, "unit-6", BAOSHAN))["decision"]

    decision = await eventually(tiered)
    # 400 employees reach B under the highest-class rule; B is the district bureau's.
    assert (decision["pack"], decision["tier"], decision["responsible_level"]) == ("shanghai", "B", "county")
    for n in range(3):
        response = await grading.post(
            "/enterprises/unit-6/signals",
            json={
                "kind": "penalty",
                "heavier": True,
                "occurred_on": str(TODAY - timedelta(days=100 * n)),
                "ref": f"沪宝市监案〔2026〕{n}号",
            },
            headers=headers,
        )
        assert response.status_code == 201, response.text
    decision = response.json()["decision"]
    assert (
        decision["supervision_class"] == "special"
        and decision["reasons"][0]["rule"] == "special.heavier_penalty_3_in_2y"
    )
    assert decision["locked"] and decision["escalated"]
    assert (decision["responsible_level"], decision["responsible_region"]) == ("province", "310000")
    bad = await grading.post(
        "/enterprises/unit-6/signals",
        json={"kind": "credit_risk", "occurred_on": str(TODAY)},
        headers=headers,
    )
    assert bad.status_code == 422
    future = await grading.post(
        "/enterprises/unit-6/signals",
        json={"kind": "recall", "occurred_on": str(TODAY + timedelta(days=1))},
        headers=headers,
    )
    assert future.status_code == 422
    elsewhere = await grading.post(
        "/enterprises/unit-6/signals",
        json={"kind": "recall", "occurred_on": str(TODAY)},
        headers=identity(settings, WENSHUI),
    )
    assert elsewhere.status_code == 404


async def test_what_if_evaluates_under_any_pack_and_stores_nothing(
    settings: Settings, grading: httpx.AsyncClient
) -> None:
    headers = identity(settings, SX_PROVINCE)
    unit = {
        "region_code": "141121",
        "size": {"kind": "production", "employees": 1500, "revenue_wan_yuan": 10000},
    }
    shanxi = (await grading.post("/what-if", json=unit, headers=headers)).json()
    baoshan = (await grading.post("/what-if", json={**unit, "pack": "shanghai"}, headers=headers)).json()
    assert (shanxi["pack"], shanxi["tier"]) == ("shanxi", "B")
    assert (baoshan["pack"], baoshan["tier"]) == ("shanghai", "A")
    signals = [
        {"kind": "penalty", "heavier": True, "occurred_on": str(TODAY - timedelta(days=d))} for d in (1, 2, 3)
    ]
    special = (
        await grading.post("/what-if", json={**unit, "pack": "shanghai", "signals": signals}, headers=headers)
    ).json()
    assert special["supervision_class"] == "special"
    unknown = await grading.post("/what-if", json={**unit, "pack": "atlantis"}, headers=headers)
    assert unknown.status_code == 404 and unknown.json()["code"] == "PACK_NOT_FOUND"
    listed = (await grading.get("/enterprises", headers=headers)).json()
    assert listed["items"] == []

    packs = (await grading.get("/packs", headers=headers)).json()
    assert {p["pack"]: p["provinces"] for p in packs}["shanxi"] == ["140000"]
    active = (await grading.get("/packs/for-region/320102", headers=headers)).json()
    assert active["pack"] == "jiangsu" and active["tiers"]["combination_rule"] == "both_indicators"


async def test_replaying_the_same_events_in_another_order_gives_the_same_decision(settings: Settings) -> None:
    """The set-based handler applied straight to real databases, in three orders of the same events, each
    event a batch of its own and all of them one batch."""
    app = create_app(settings)
    applier = BatchApplier(app.state.packs)
    events = [
        registered(8),
        failed("unit-8", "sc-1", 400),
        failed("unit-8", "sc-2", 200),
        failed("unit-8", "sc-3", 20),
        overturned("unit-8", "sc-2"),
        make_event(
            ENTERPRISE_UPDATED,
            EnterpriseRegistered(**{**registered(8).data, "employees": 400, "revenue_wan_yuan": 2500}),
            region="141121",
            enterprise_id="unit-8",
        ),
    ]

    def batch(*events: CloudEvent) -> list[Delivery]:
        return [Delivery(None, e, decode_payload(e), Batched(applier.apply)) for e in events]  # type: ignore[arg-type]

    decisions = set()
    orders = [
        events,
        list(reversed(events)),
        [events[4], events[1], events[5], events[0], events[3], events[2]],
    ]
    for n, (order, whole) in enumerate(itertools.product(orders, (False, True))):
        url = settings.database_url_for(f"replay{n}")
        await migrate("grading", url)
        db = Database(url)
        try:
            for deliveries in [batch(*order)] if whole else [batch(e) for e in order]:
                async with db.transaction() as session:
                    await applier.apply(session, deliveries)
            async with db.session() as session:
                row = await session.get(GradedEnterprise, "unit-8")
            assert row is not None
            decisions.add(row.decision)
        finally:
            await db.dispose()
    assert len(decisions) == 1
    decision = json.loads(decisions.pop())
    # sc-1 is too old for key, sc-2 overturned, sc-3 counts; the newer size (400, 2500) makes it tier B.
    assert decision["supervision_class"] == "key" and decision["tier"] == "B"
    assert list(itertools.chain.from_iterable(r["evidence"] for r in decision["reasons"])) == [events[3].id]
