"""Exam plans and the verifiable draw of the managers they examine.

The rules first (``sampling``, ``rules``: plain functions, re-run here in plain Python as a reader of the
published inputs would), then the whole system through the gateway: units and managers entered at registry
reach exam by events; a county plans, draws, verifies and re-draws; the unit's account sees its notice; the
neighbouring county sees nothing. The sittings a recently examined person left, or the one that starts a plan,
are written straight into exam's database, as the sittings routes (another package) will write them."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.db import Database, today_cn, utcnow
from services.common.ids import new_id
from services.common.launcher import System
from services.common.policy import PACKS_DIR, BlueprintItem
from services.common.settings import Settings
from services.exam.app import create_app as create_exam
from services.exam.models import ExamPlan, ExamSitting, ExamUnit
from services.exam.plans import rules, sampling
from tests.e2e.client import login
from tests.harness import (
    SX_PROVINCE,
    WENSHUI,
    enterprise_body,
    enterprise_caller,
    eventually,
    id_number,
    identity,
    make_uscc,
    module_system,
    selects,
    serving,
    statements,
)

DEMO_BANK = Path(__file__).parents[2] / "services" / "exam" / "data" / "bank.csv"
DEMO_USCC = "91141121MA00000010"  # the unit of the demo enterprise account ent-demo
TODAY = today_cn()
PERIOD = {"period_start": TODAY.isoformat(), "period_end": (TODAY + timedelta(days=30)).isoformat()}


# ------------------------------------------------------------------------------------------ the rules alone


def criteria(**fields: Any) -> sampling.Criteria:
    values: dict[str, Any] = {
        "organiser_region": "141121",
        "roles": ("quality_director", "quality_officer"),
        "kinds": ("production",),
        "product_categories": (),
        "exclude_examined_within_months": 12,
        "period_start": date(2026, 12, 1),
        "period_end": date(2026, 12, 31),
        **fields,
    }
    return sampling.Criteria(**values)


def plain_rerun(inputs: dict[str, Any]) -> list[str]:
    """The module docstring's recipe, with nothing but the standard library."""

    def key(manager: str) -> str:
        message = f"managers\x00{manager}".encode()
        return hmac.new(inputs["seed"].encode(), message, hashlib.sha256).hexdigest()

    return sorted(inputs["pool"], key=lambda m: (key(m), m))[: inputs["count"]]


def test_a_draw_re_run_in_plain_python_from_its_published_inputs_gives_the_same_persons() -> None:
    managers = [f"m-{n:03d}" for n in range(40)]
    for seed in ("seed-a", "seed-b", "0f" * 16):
        inputs = sampling.build_inputs(
            seed=seed,
            criteria=criteria(),
            eligible=managers,
            examined_on={},
            sample_count=7,
            sample_ratio=None,
        )
        published = json.loads(sampling.canonical(inputs))
        assert plain_rerun(published) == sampling.run(inputs) and len(sampling.run(inputs)) == 7
        canonical = json.dumps(published, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        assert hashlib.sha256(canonical.encode()).hexdigest() == sampling.digest(inputs)
    draws = {
        tuple(
            sampling.run(
                sampling.build_inputs(
                    seed=s,
                    criteria=criteria(),
                    eligible=managers,
                    examined_on={},
                    sample_count=7,
                    sample_ratio=None,
                )
            )
        )
        for s in ("x1", "x2", "x3")
    }
    assert len(draws) == 3  # the seed decides: three seeds, three different choices


def test_the_recently_examined_are_excluded_with_why_and_never_drawn() -> None:
    managers = [f"m-{n:02d}" for n in range(12)]
    examined = {"m-03": date(2026, 6, 1), "m-07": date(2026, 11, 30)}
    for n in range(30):
        inputs = sampling.build_inputs(
            seed=f"s{n}",
            criteria=criteria(),
            eligible=[*managers, "m-03"],
            examined_on=examined,
            sample_count=None,
            sample_ratio=1,
        )
        assert set(sampling.run(inputs)) == set(managers) - set(examined)
    assert inputs["pool"] == sorted(set(managers) - set(examined))
    assert inputs["excluded"] == [
        {"manager_id": "m-03", "reason": "examined_within_months", "submitted_on": "2026-06-01"},
        {"manager_id": "m-07", "reason": "examined_within_months", "submitted_on": "2026-11-30"},
    ]
    assert inputs["criteria"]["examined_since"] == "2025-12-01"


def test_ratios_round_up_in_decimal_and_counts_are_capped_at_the_pool() -> None:
    assert sampling.sample_size(None, 0.1, 30) == (3, {"sample_ratio": 0.1})  # not 4 (0.1 × 30 in binary)
    assert sampling.sample_size(None, 0.01, 5)[0] == 1  # any share above 0 draws one
    assert sampling.sample_size(None, 0.25, 10)[0] == 3
    assert sampling.sample_size(None, 1, 7)[0] == 7
    assert sampling.sample_size(10, None, 4) == (4, {"sample_count": 10, "capped": True})
    assert sampling.sample_size(3, None, 4) == (3, {"sample_count": 3, "capped": False})
    with pytest.raises(ValueError):
        sampling.sample_size(3, 0.5, 4)


def test_months_are_counted_on_the_calendar() -> None:
    assert sampling.months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert sampling.months_before(date(2026, 1, 15), 12) == date(2025, 1, 15)
    assert sampling.months_before(date(2026, 1, 15), 13) == date(2024, 12, 15)
    assert sampling.months_before(date(2026, 5, 9), 0) == date(2026, 5, 9)


def test_verification_finds_a_tampered_record() -> None:
    inputs = sampling.build_inputs(
        seed="seed-v",
        criteria=criteria(),
        eligible=["a", "b", "c", "d", "e"],
        examined_on={"e": date(2026, 1, 1)},
        sample_count=2,
        sample_ratio=None,
    )
    recorded, sha, drawn = sampling.canonical(inputs), sampling.digest(inputs), sampling.run(inputs)
    good = sampling.verify(recorded, sha, drawn)
    assert (good.digest_matches, good.result_matches, good.consistent) == (True, True, True)
    assert not sampling.verify(recorded, sha, list(reversed(drawn))).result_matches
    swapped = json.loads(recorded)
    swapped["pool"][0] = "z"
    tampered = sampling.verify(sampling.canonical(swapped), sha, drawn)
    assert not tampered.digest_matches
    smuggled = {**inputs, "pool": sorted([*inputs["pool"], "e"])}  # an excluded person put back in the pool
    assert not sampling.verify(sampling.canonical(smuggled), sampling.digest(smuggled), drawn).consistent
    assert sampling.verify("not json", sha, drawn).digest_matches is False


def test_the_bank_must_fill_the_blueprint_for_every_role_and_kind() -> None:
    def group(type_: str, count: int, *, director: bool = True, sales: bool = True, fields: str = "[]"):
        return rules.BankGroup("law_regulation", type_, director, True, True, sales, fields, count)

    blueprint = [BlueprintItem(category="law_regulation", type="single_choice", count=3, points=5)]
    everyone = dict(roles=["quality_director", "quality_officer"], kinds=["production", "sales"])
    assert rules.shortfalls(blueprint, [group("single_choice", 3)], product_categories=[], **everyone) == []
    short = rules.shortfalls(
        blueprint,
        [group("single_choice", 2), group("single_choice", 5, sales=False)],
        product_categories=[],
        **everyone,
    )
    assert [(s.role, s.kind, s.available) for s in short] == [
        ("quality_director", "sales", 2),
        ("quality_officer", "sales", 2),
    ]
    assert "质量安全总监（销售单位）的法律法规单选题需 3 道" in short[0].message()
    # A field's questions count only when they apply to every person the plan can draw.
    gas = [group("single_choice", 3, fields='["gas_stove"]')]
    assert rules.shortfalls(blueprint, gas, product_categories=["gas_stove"], **everyone) == []
    assert rules.shortfalls(blueprint, gas, product_categories=[], **everyone)
    assert rules.shortfalls(blueprint, gas, product_categories=["gas_stove", "gas_hose"], **everyone)


# ------------------------------------------------------------------------------ through the gateway


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with module_system(tmp_path_factory, "exam-plans") as running:
        with httpx.Client(base_url=running.url("gateway"), timeout=30) as gateway:
            token = gateway.post("/auth/token", json={"username": "sx-province", "password": "demo"})
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            files = {"file": ("bank.csv", DEMO_BANK.read_bytes(), "text/csv")}
            imported = gateway.post("/api/v1/exam/questions/import", files=files, headers=headers)
            assert imported.status_code == 200 and imported.json()["rejected"] == 0, imported.text
        yield running


TOKENS: dict[str, dict[str, str]] = {}


class Client:
    """The gateway with the demo log-ins."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.headers = TOKENS  # log-ins are rate-limited: one per user for the module's system

    async def as_(self, user: str) -> dict[str, str]:
        if user not in self.headers:
            self.headers[user] = await login(self.http, user)
        return self.headers[user]

    async def call(self, user: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, path, headers=await self.as_(user), **kwargs)

    async def unit(self, uscc: str, **fields: Any) -> str:
        created = await self.call(
            "wenshui", "POST", "/api/v1/registry/enterprises", json=enterprise_body(uscc, **fields)
        )
        assert created.status_code == 201, created.text
        return created.json()["id"]

    async def manager(
        self, unit: str, serial: int, role: str = "quality_director", name: str = "张三"
    ) -> str:
        body = {
            "role": role,
            "name": name,
            "id_number": id_number(serial % 1000),
            "appointed_on": (TODAY - timedelta(days=40)).isoformat(),
        }
        made = await self.call("wenshui", "POST", f"/api/v1/registry/enterprises/{unit}/managers", json=body)
        assert made.status_code == 201, made.text
        return made.json()["id"]

    async def arrived(self, managers: set[str]) -> None:
        """Wait until exam's projection lists these managers as candidates (registry's events)."""

        async def listed() -> None:
            page = await self.call("sx-province", "GET", "/api/v1/exam/candidates", params={"limit": 500})
            assert page.status_code == 200, page.text
            assert managers <= {c["manager_id"] for c in page.json()["items"]}

        await eventually(listed, timeout=30)

    async def plan(self, user: str, **fields: Any) -> dict[str, Any]:
        body = {
            "title": "2026年第四季度质量安全管理人员监督抽查考核",
            "mode": "online",
            "roles": ["quality_director", "quality_officer"],
            "kinds": ["production"],
            **PERIOD,
            **fields,
        }
        made = await self.call(user, "POST", "/api/v1/exam/plans", json=body)
        assert made.status_code == 201, made.text
        return made.json()


def exam_db(system: System) -> Database:
    return Database(system.env["QSR_DATABASE_URL"].replace("{service}", "exam"))


async def add_sitting(system: System, plan_id: str, manager_id: str, **fields: Any) -> None:
    """A sitting as the sittings routes write it (exam's own database; only the columns the draw reads vary)."""
    db = exam_db(system)
    now = utcnow()
    try:
        async with db.transaction() as session:
            session.add(
                ExamSitting(
                    id=new_id(),
                    paper_id=new_id(),
                    candidate_id=new_id(),
                    plan_id=plan_id,
                    manager_id=manager_id,
                    enterprise_id=new_id(),
                    region_code="141121",
                    role="quality_director",
                    kind="production",
                    mode="online",
                    started_at=now,
                    deadline_at=now,
                    started_by="test",
                    max_score=100,
                    **fields,
                )
            )
    finally:
        await db.dispose()


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json().get("code")


@pytest.mark.asyncio
@pytest.mark.e2e
async def test_a_county_plans_draws_verifies_and_re_draws_and_the_unit_is_notified(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=30) as http:
        g = Client(http)
        demo = await g.unit(DEMO_USCC, station_code="141121001", product_categories=["electric_bicycle"])
        other = await g.unit(make_uscc(7101), product_categories=["electric_bicycle", "ebike_battery"])
        closed = await g.unit(make_uscc(7102), product_categories=["electric_bicycle"])
        demo_managers = {
            await g.manager(demo, 7101, name="张三"),
            await g.manager(demo, 7102, "quality_officer", name="欧阳修"),
        }
        managers = demo_managers | {
            await g.manager(other, 7103, name="李四"),
            await g.manager(other, 7104, "quality_officer", name="王五"),
        }
        gone = await g.manager(closed, 7105, name="赵六")
        await g.arrived(managers | {gone})
        deregistered = await g.call(
            "wenshui",
            "POST",
            f"/api/v1/registry/enterprises/{closed}/status",
            json={"status": "deregistered", "effective_on": TODAY.isoformat(), "reason": "注销登记"},
        )
        assert deregistered.status_code == 201, deregistered.text

        plan = await g.plan("wenshui", product_categories=["electric_bicycle"], sample_count=3)
        assert (plan["status"], plan["organiser_region"], plan["draw_round"]) == ("draft", "141121", 0)
        assert plan["max_score"] == 100 and plan["pass_mark"] == 60 and plan["duration_minutes"] == 60
        assert plan["pack"].startswith("shanxi@") and plan["exclude_examined_within_months"] == 12
        plan_id = plan["id"]

        await eventually(lambda: _status_in_exam(system, closed, "deregistered"), timeout=30)
        drawn = await g.call(
            "wenshui", "POST", f"/api/v1/exam/plans/{plan_id}/draw", json={"seed": "first-seed-1"}
        )
        assert drawn.status_code == 200, drawn.text
        first = drawn.json()
        assert first["round"] == 1 and first["reason"] is None and len(first["drawn"]) == 3
        assert set(first["inputs"]["pool"]) == managers and first["pool_size"] == 4
        assert plain_rerun(first["inputs"]) == first["drawn"]
        canonical = json.dumps(first["inputs"], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        assert hashlib.sha256(canonical.encode()).hexdigest() == first["inputs_sha256"]
        assert first["inputs"]["count_rule"] == {"sample_count": 3, "capped": False}

        shown = (await g.call("wenshui", "GET", f"/api/v1/exam/plans/{plan_id}")).json()
        assert (shown["status"], shown["draw_round"], shown["candidate_count"]) == ("published", 1, 4)
        assert shown["seed"] == first["seed"] and shown["inputs_sha256"] == first["inputs_sha256"]
        verified = (await g.call("wenshui", "GET", f"/api/v1/exam/plans/{plan_id}/draws/1/verify")).json()
        assert verified["verified"] and verified["recomputed"] == first["drawn"]

        sampled = (await g.call("wenshui", "GET", f"/api/v1/exam/plans/{plan_id}/candidates")).json()["items"]
        assert sorted(c["manager_id"] for c in sampled) == sorted(first["drawn"])
        assert all(c["name_masked"][1:] in ("*", "**") for c in sampled)
        assert not any(name in str(sampled) for name in ("张三", "欧阳修", "李四", "王五", id_number(101)))

        # A re-draw needs a reason; it is recorded and listed with it
        silent = await g.call(
            "wenshui", "POST", f"/api/v1/exam/plans/{plan_id}/draw", json={"seed": "another-seed-2"}
        )
        assert code(silent) == (422, "EXAM_REDRAW_REASON_REQUIRED")
        redrawn = await g.call(
            "wenshui",
            "POST",
            f"/api/v1/exam/plans/{plan_id}/draw",
            json={"seed": "another-seed-2", "reason": "原抽中人员所在单位已停产，经局务会研究重新抽取"},
        )
        assert redrawn.status_code == 200, redrawn.text
        second = redrawn.json()
        assert second["round"] == 2 and plain_rerun(second["inputs"]) == second["drawn"]
        rounds = (await g.call("wenshui", "GET", f"/api/v1/exam/plans/{plan_id}/draws")).json()
        assert [(r["round"], r["reason"]) for r in rounds] == [(1, None), (2, second["reason"])]
        for n in (1, 2):
            check = await g.call("sx-province", "GET", f"/api/v1/exam/plans/{plan_id}/draws/{n}/verify")
            assert check.json()["verified"], check.text
        missing = await g.call("wenshui", "GET", f"/api/v1/exam/plans/{plan_id}/draws/3/verify")
        assert code(missing) == (404, "EXAM_DRAW_NOT_FOUND")
        now_sampled = (await g.call("wenshui", "GET", f"/api/v1/exam/plans/{plan_id}/candidates")).json()[
            "items"
        ]
        assert sorted(c["manager_id"] for c in now_sampled) == sorted(second["drawn"])

        # The unit's account: its own sampled persons, as notices, and only those
        demo_drawn = set(second["drawn"]) & demo_managers
        assert demo_drawn  # three of four: at least one of the demo unit's two
        notices = (await g.call("ent-demo", "GET", "/api/v1/exam/notices")).json()["items"]
        mine = [n for n in notices if n["plan_id"] == plan_id]
        assert {n["manager_id"] for n in mine} == demo_drawn
        assert all(n["plan_title"] == plan["title"] and n["mode"] == "online" and not n["read"] for n in mine)
        assert mine[0]["period_start"] == PERIOD["period_start"] and mine[0]["notified_at"]
        read = await g.call("ent-demo", "POST", f"/api/v1/exam/notices/{mine[0]['candidate_id']}/read")
        assert read.status_code == 200 and read.json()["read"], read.text
        unread = (await g.call("ent-demo", "GET", "/api/v1/exam/notices", params={"unread": True})).json()
        assert mine[0]["candidate_id"] not in {n["candidate_id"] for n in unread["items"]}
        own = (await g.call("ent-demo", "GET", f"/api/v1/exam/plans/{plan_id}/candidates")).json()["items"]
        assert {c["manager_id"] for c in own} == demo_drawn and {c["uscc"] for c in own} == {DEMO_USCC}
        listed = (await g.call("ent-demo", "GET", "/api/v1/exam/plans")).json()["items"]
        assert plan_id in {p["id"] for p in listed}
        assert code(
            await g.call("ent-demo", "POST", f"/api/v1/exam/plans/{plan_id}/draw", json={"reason": "x"})
        ) == (
            403,
            "EXAM_ORGANISER_ONLY",
        )
        assert code(await g.call("wenshui", "GET", "/api/v1/exam/notices")) == (
            403,
            "EXAM_NOTICES_ENTERPRISE_ONLY",
        )
        other_notice = next(c["id"] for c in now_sampled if c["uscc"] != DEMO_USCC)
        assert code(await g.call("ent-demo", "POST", f"/api/v1/exam/notices/{other_notice}/read")) == (
            404,
            "EXAM_CANDIDATE_NOT_FOUND",
        )

        # A person a re-draw left out and a later one draws again is sampled anew: notified again, unread
        before = {c["manager_id"]: c for c in now_sampled}
        left_out = managers - set(second["drawn"])
        for n in range(3, 12):
            redraw = await g.call(
                "wenshui",
                "POST",
                f"/api/v1/exam/plans/{plan_id}/draw",
                json={"seed": f"round-seed-{n}", "reason": "复核"},
            )
            assert redraw.status_code == 200, redraw.text
            back = left_out & set(redraw.json()["drawn"])
            if back:
                break
        assert back, "nine re-draws never drew the left-out person again"
        latest = (await g.call("wenshui", "GET", f"/api/v1/exam/plans/{plan_id}/candidates")).json()["items"]
        by_manager = {c["manager_id"]: c for c in latest}
        assert set(by_manager) == set(redraw.json()["drawn"])
        (returned,) = back
        assert by_manager[returned]["read_at"] is None and by_manager[returned]["draw_round"] == n
        kept = set(before) & set(by_manager)
        assert all(by_manager[m]["notified_at"] == before[m]["notified_at"] for m in kept)
        assert all(by_manager[returned]["notified_at"] > before[m]["notified_at"] for m in kept)
        verified_last = await g.call("wenshui", "GET", f"/api/v1/exam/plans/{plan_id}/draws/{n}/verify")
        assert verified_last.json()["verified"]

        # The neighbouring county sees none of it and can do nothing with it
        for path in ("", "/draws", "/draws/1/verify", "/candidates"):
            hidden = await g.call("jiaocheng", "GET", f"/api/v1/exam/plans/{plan_id}{path}")
            assert code(hidden) == (404, "EXAM_PLAN_NOT_FOUND"), path
        attempt = await g.call(
            "jiaocheng", "POST", f"/api/v1/exam/plans/{plan_id}/draw", json={"reason": "试图重抽"}
        )
        assert code(attempt) == (404, "EXAM_PLAN_NOT_FOUND")
        theirs = (await g.call("jiaocheng", "GET", "/api/v1/exam/plans")).json()["items"]
        assert plan_id not in {p["id"] for p in theirs}
        assert plan_id in {
            p["id"] for p in (await g.call("sx-province", "GET", "/api/v1/exam/plans")).json()["items"]
        }


async def _status_in_exam(system: System, unit: str, status: str) -> None:
    """The unit's operating status as exam's projection holds it (registry's event has arrived)."""
    db = exam_db(system)
    try:
        async with db.session() as session:
            row = await session.get(ExamUnit, unit)
            assert row is not None and row.operating_status == status
    finally:
        await db.dispose()


@pytest.mark.asyncio
@pytest.mark.e2e
async def test_the_recently_examined_are_left_out_and_a_started_plan_is_not_drawn_again(
    system: System,
) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=30) as http:
        g = Client(http)
        unit = await g.unit(make_uscc(7201), product_categories=["gas_water_heater"])
        examined = await g.manager(unit, 7201, name="孙七")
        recent_enough = await g.manager(unit, 7202, "quality_officer", name="周八")
        fresh = await g.manager(unit, 7203, "quality_officer", name="吴九")
        await g.arrived({examined, recent_enough, fresh})
        # one sat an exam two months ago (within 12 months), another 13 months ago (outside), an unfinished
        # sitting a week ago examines nobody
        await add_sitting(
            system, new_id(), examined, status="submitted", submitted_at=utcnow() - timedelta(days=60)
        )
        await add_sitting(
            system, new_id(), recent_enough, status="submitted", submitted_at=utcnow() - timedelta(days=400)
        )
        await add_sitting(system, new_id(), fresh, status="in_progress")
        plan = await g.plan("wenshui", product_categories=["gas_water_heater"], sample_ratio=1)
        drawn = await g.call("wenshui", "POST", f"/api/v1/exam/plans/{plan['id']}/draw", json={})
        assert drawn.status_code == 200, drawn.text
        body = drawn.json()
        assert sorted(body["drawn"]) == sorted([recent_enough, fresh]) and len(body["seed"]) == 32
        assert [(e["manager_id"], e["reason"]) for e in body["inputs"]["excluded"]] == [
            (examined, "examined_within_months")
        ]
        assert body["inputs"]["count_rule"] == {"sample_ratio": 1}

        # a plan that counts no months excludes nobody
        keep_all = await g.plan(
            "wenshui",
            product_categories=["gas_water_heater"],
            sample_ratio=1,
            exclude_examined_within_months=0,
        )
        everyone = await g.call("wenshui", "POST", f"/api/v1/exam/plans/{keep_all['id']}/draw", json={})
        assert sorted(everyone.json()["drawn"]) == sorted([examined, recent_enough, fresh])

        # once a sitting of the plan has started, no re-draw
        await add_sitting(system, plan["id"], fresh, status="in_progress")
        again = await g.call(
            "wenshui", "POST", f"/api/v1/exam/plans/{plan['id']}/draw", json={"reason": "人员调整"}
        )
        assert code(again) == (409, "EXAM_PLAN_STARTED")
        kept = await g.call("wenshui", "GET", f"/api/v1/exam/plans/{plan['id']}/draws")
        assert [r["round"] for r in kept.json()] == [1]


@pytest.mark.asyncio
@pytest.mark.e2e
async def test_a_station_plan_draws_only_the_units_of_its_station(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=30) as http:
        g = Client(http)
        own = await g.unit(make_uscc(7301), station_code="141121001", product_categories=["gas_hose"])
        county = await g.unit(make_uscc(7302), product_categories=["gas_hose"])
        ours = {await g.manager(own, 7301), await g.manager(own, 7302, "quality_officer")}
        theirs = await g.manager(county, 7303)
        await g.arrived(ours | {theirs})
        plan = await g.plan("wenshui-s1", product_categories=["gas_hose"], sample_count=10)
        assert plan["organiser_region"] == "141121001"
        drawn = await g.call("wenshui-s1", "POST", f"/api/v1/exam/plans/{plan['id']}/draw", json={})
        assert drawn.status_code == 200, drawn.text
        assert set(drawn.json()["drawn"]) == ours and set(drawn.json()["inputs"]["pool"]) == ours
        assert drawn.json()["inputs"]["count_rule"] == {"sample_count": 10, "capped": True}
        candidates = (await g.call("wenshui", "GET", f"/api/v1/exam/plans/{plan['id']}/candidates")).json()
        assert {c["station_code"] for c in candidates["items"]} == {"141121001"}
        assert code(await g.call("jiaocheng", "GET", f"/api/v1/exam/plans/{plan['id']}")) == (
            404,
            "EXAM_PLAN_NOT_FOUND",
        )
        # the county bureau sees its station's plan and may act for it; the station does not see the county's
        county_plan = await g.plan("wenshui", product_categories=["gas_hose"], sample_count=1)
        assert code(await g.call("wenshui-s1", "GET", f"/api/v1/exam/plans/{county_plan['id']}")) == (
            404,
            "EXAM_PLAN_NOT_FOUND",
        )
        listed = await g.call("wenshui", "GET", "/api/v1/exam/plans", params={"status": "published"})
        assert plan["id"] in {p["id"] for p in listed.json()["items"]}
        assert county_plan["id"] not in {p["id"] for p in listed.json()["items"]}  # still a draft


@pytest.mark.asyncio
@pytest.mark.e2e
async def test_bad_plans_are_refused_with_their_codes_and_nothing_is_written(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=30) as http:
        g = Client(http)
        before = (await g.call("jiaocheng", "GET", "/api/v1/exam/plans", params={"limit": 500})).json()[
            "items"
        ]
        base = {"title": "考核", "mode": "paper", "roles": ["quality_director"], "kinds": ["sales"], **PERIOD}

        async def refused(user: str = "jiaocheng", **fields: Any) -> tuple[int, str]:
            return code(await g.call(user, "POST", "/api/v1/exam/plans", json={**base, **fields}))

        backwards = {"period_start": PERIOD["period_end"], "period_end": PERIOD["period_start"]}
        assert await refused(sample_count=1, **backwards) == (422, "EXAM_PLAN_PERIOD_INVALID")
        assert await refused(sample_count=1, sample_ratio=0.5) == (422, "EXAM_PLAN_SAMPLE_INVALID")
        assert await refused() == (422, "EXAM_PLAN_SAMPLE_INVALID")
        assert await refused(sample_count=1, product_categories=["flying_car"]) == (
            422,
            "EXAM_PLAN_PRODUCT_CATEGORY_UNKNOWN",
        )
        assert (await refused(sample_ratio=1.5))[0] == 422
        assert (await refused(sample_count=1, roles=[]))[0] == 422
        assert (await refused(sample_count=1, mode="by_post"))[0] == 422
        too_many = [{"category": "standard", "type": "multiple_choice", "count": 50, "points": 2}]
        unfillable = await g.call(
            "jiaocheng", "POST", "/api/v1/exam/plans", json={**base, "sample_count": 1, "blueprint": too_many}
        )
        assert code(unfillable) == (422, "EXAM_BLUEPRINT_UNFILLABLE")
        assert unfillable.json()["errors"][0]["needed"] == 50 and "标准多选题" in unfillable.json()["detail"]
        bad_item = [{"category": "standard", "type": "essay", "count": 1, "points": 2}]
        assert (await refused(sample_count=1, blueprint=bad_item))[0] == 422
        assert await refused("ent-demo", sample_count=1) == (403, "EXAM_PLANS_REGULATOR_ONLY")
        after = (await g.call("jiaocheng", "GET", "/api/v1/exam/plans", params={"limit": 500})).json()[
            "items"
        ]
        assert after == before

        # an override within the bank's reach is kept, with its own total and pass mark
        small = [{"category": "law_regulation", "type": "true_false", "count": 5, "points": 4}]
        plan = await g.plan(
            "jiaocheng",
            blueprint=small,
            duration_minutes=30,
            sample_count=1,
            product_categories=["small_motor"],
        )
        assert (plan["max_score"], plan["pass_mark"], plan["duration_minutes"]) == (20, 12, 30)
        # nobody to draw: refused, and the plan stays a draft
        empty = await g.call("jiaocheng", "POST", f"/api/v1/exam/plans/{plan['id']}/draw", json={})
        assert code(empty) == (409, "EXAM_DRAW_POOL_EMPTY")
        assert (await g.call("jiaocheng", "GET", f"/api/v1/exam/plans/{plan['id']}")).json()[
            "status"
        ] == "draft"
        short_seed = await g.call(
            "jiaocheng", "POST", f"/api/v1/exam/plans/{plan['id']}/draw", json={"seed": "x"}
        )
        assert short_seed.status_code == 422

        # pages: every plan once
        await g.plan("jiaocheng", sample_count=1)
        first = (await g.call("jiaocheng", "GET", "/api/v1/exam/plans", params={"limit": 1})).json()
        rest = await g.call(
            "jiaocheng", "GET", "/api/v1/exam/plans", params={"limit": 500, "cursor": first["next_cursor"]}
        )
        ids = [p["id"] for p in first["items"] + rest.json()["items"]]
        assert len(ids) == len(set(ids)) == len(before) + 2


@pytest.mark.asyncio
async def test_reading_a_plan_is_one_query_for_a_regulator_and_a_unit_alike(settings: Settings) -> None:
    app = create_exam(settings)
    async with serving(app) as exam:
        files = {"file": ("bank.csv", DEMO_BANK.read_bytes(), "text/csv")}
        imported = await exam.post("/questions/import", files=files, headers=identity(settings, SX_PROVINCE))
        assert imported.status_code == 200, imported.text
        body = {"title": "考核", "mode": "on_site", "roles": ["quality_officer"], "kinds": ["production"]}
        made = await exam.post(
            "/plans", json={**body, **PERIOD, "sample_ratio": 0.2}, headers=identity(settings, WENSHUI)
        )
        assert made.status_code == 201, made.text
        plan_id = made.json()["id"]
        company = identity(settings, enterprise_caller(DEMO_USCC))
        for headers, status in ((identity(settings, WENSHUI), 200), (company, 404)):
            with statements(app) as seen:
                shown = await exam.get(f"/plans/{plan_id}", headers=headers)
                listed = await exam.get("/plans", headers=headers)
            assert (shown.status_code, listed.status_code) == (status, 200), shown.text
            assert len(selects(seen)) == 2  # one each
            assert (plan_id in {p["id"] for p in listed.json()["items"]}) is (status == 200)


@pytest.mark.asyncio
async def test_a_plan_takes_its_numbers_from_the_packs_the_service_is_configured_with(
    settings: Settings, tmp_path: Path
) -> None:
    """QSR_GRADING_PACKS_DIR names the province's packs for every service: a plan copies its pass mark and its
    consequences' numbers (多次, its window, the days to rectify) from them, not from the shipped defaults."""
    packs = tmp_path / "packs"
    shutil.copytree(PACKS_DIR, packs)
    shanxi = packs / "shanxi.yaml"
    shanxi.write_text(
        shanxi.read_text(encoding="utf-8")
        + "exam:\n  pass_mark_percent: 80\n  repeated_failures: 3\n  rectification_days: 15\n",
        encoding="utf-8",
    )
    app = create_exam(settings.model_copy(update={"grading_packs_dir": packs}))
    async with serving(app) as exam:
        files = {"file": ("bank.csv", DEMO_BANK.read_bytes(), "text/csv")}
        imported = await exam.post("/questions/import", files=files, headers=identity(settings, SX_PROVINCE))
        assert imported.status_code == 200, imported.text
        body = {"title": "考核", "mode": "online", "roles": ["quality_officer"], "kinds": ["production"]}
        made = await exam.post(
            "/plans", json={**body, **PERIOD, "sample_count": 1}, headers=identity(settings, WENSHUI)
        )
        assert made.status_code == 201, made.text
        assert (made.json()["pass_mark"], made.json()["max_score"]) == (80, 100)
        async with app.state.db.session() as session:
            plan = await session.get(ExamPlan, made.json()["id"])
        assert plan is not None
        assert (plan.repeated_failures, plan.repeated_failures_within_days, plan.rectification_days) == (
            3,
            730,
            15,
        )
