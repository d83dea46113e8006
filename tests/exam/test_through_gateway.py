"""The exam service as a user meets it: through the gateway, every service a process of its own (one system
for this module), registry's events over a real NATS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from services.common.db import today_cn
from services.common.launcher import System
from tests.e2e.client import login
from tests.exam.factories import SMALL_BLUEPRINT, csv_file, sitting_bank_rows, true_false
from tests.harness import (
    enterprise_body,
    eventually,
    id_number,
    make_uscc,
    module_system,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

DEMO_USCC = "91141121MA00000010"  # the unit of the demo enterprise account ent-demo
DEMO_BANK = Path(__file__).parents[2] / "services" / "exam" / "data" / "bank.csv"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with module_system(tmp_path_factory, "exam-system") as running:
        yield running


async def test_the_demo_bank_is_imported_and_kept_from_enterprises(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=20) as gateway:
        province, wenshui, jiaocheng, company = [
            await login(gateway, user) for user in ("sx-province", "wenshui", "jiaocheng", "ent-demo")
        ]
    async with httpx.AsyncClient(base_url=system.url("gateway") + "/api/v1/exam", timeout=20) as exam:
        files = {"file": ("bank.csv", DEMO_BANK.read_bytes(), "text/csv")}
        report = await exam.post("/questions/import", files=files, headers=province)
        assert report.status_code == 200, report.text
        shipped = report.json()["created"]
        assert 30 <= shipped <= 60 and report.json()["rejected"] == 0
        again = await exam.post("/questions/import", files=files, headers=province)
        assert (again.json()["created"], again.json()["unchanged"]) == (0, shipped)

        listed = await exam.get(
            "/questions", params={"limit": 100, "owner_region": "140000"}, headers=wenshui
        )
        assert len(listed.json()["items"]) == shipped  # a county reads the provincial bank
        refused = await exam.get("/questions", headers=company)
        assert refused.status_code == 403 and refused.json()["code"] == "QUESTION_BANK_REGULATOR_ONLY"
        one = listed.json()["items"][0]["id"]
        hidden = await exam.get(f"/questions/{one}", headers=company)
        assert hidden.status_code == 403 and "answer" not in hidden.json()

        local = await exam.post("/questions", json=true_false(code="WS-GW-1"), headers=wenshui)
        assert local.status_code == 201, local.text
        neighbour = await exam.get(f"/questions/{local.json()['id']}", headers=jiaocheng)
        assert neighbour.status_code == 404 and neighbour.json()["code"] == "QUESTION_NOT_FOUND"
        template = await exam.get("/questions/import-template.xlsx", headers=wenshui)
        assert template.status_code == 200 and template.content.startswith(b"PK")


async def test_a_manager_appointed_at_registry_is_a_candidate_in_exam(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=20) as gateway:
        wenshui, jiaocheng = await login(gateway, "wenshui"), await login(gateway, "jiaocheng")
        unit = await gateway.post(
            "/api/v1/registry/enterprises", json=enterprise_body(make_uscc(901)), headers=wenshui
        )
        assert unit.status_code == 201, unit.text
        unit_id = unit.json()["id"]
        appointed = await gateway.post(
            f"/api/v1/registry/enterprises/{unit_id}/managers",
            json={
                "role": "quality_officer",
                "name": "周建国",
                "id_number": id_number(901),
                "appointed_on": (today_cn() - timedelta(days=10)).isoformat(),
            },
            headers=wenshui,
        )
        assert appointed.status_code == 201, appointed.text

        async def listed() -> dict:
            page = await gateway.get(
                "/api/v1/exam/candidates", params={"role": "quality_officer"}, headers=wenshui
            )
            assert page.status_code == 200, page.text
            found = [c for c in page.json()["items"] if c["enterprise_id"] == unit_id]
            assert len(found) == 1
            return found[0]

        candidate = await eventually(listed, timeout=20)
        assert candidate["name_masked"] == "周**" and candidate["manager_id"] == appointed.json()["id"]
        assert id_number(901) not in str(candidate) and "周建国" not in str(candidate)
        other = await gateway.get("/api/v1/exam/candidates", headers=jiaocheng)
        assert unit_id not in {c["enterprise_id"] for c in other.json()["items"]}


async def test_a_sampled_person_sits_an_exam_through_the_gateway_and_the_neighbour_sees_nothing(
    system: System,
) -> None:
    """The whole online path as a county runs it: bank, unit and director at registry, plan, draw, the unit's
    notice, then the sitting by the unit's own account."""
    today = today_cn()
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=20) as gateway:
        province, wenshui, company, jiaocheng = [
            await login(gateway, u) for u in ("sx-province", "wenshui", "ent-demo", "jiaocheng")
        ]
        rows = sitting_bank_rows("GW")
        imported = await gateway.post(
            "/api/v1/exam/questions/import",
            files={"file": ("bank.csv", csv_file(rows), "text/csv")},
            headers=province,
        )
        assert imported.status_code == 200 and imported.json()["rejected"] == 0, imported.text
        unit = await gateway.post(
            "/api/v1/registry/enterprises", json=enterprise_body(DEMO_USCC), headers=wenshui
        )
        assert unit.status_code == 201, unit.text
        director = await gateway.post(
            f"/api/v1/registry/enterprises/{unit.json()['id']}/managers",
            json={
                "role": "quality_director",
                "name": "赵国强",
                "id_number": id_number(902),
                "appointed_on": (today - timedelta(days=20)).isoformat(),
            },
            headers=wenshui,
        )
        assert director.status_code == 201, director.text

        async def arrived() -> None:
            page = await gateway.get("/api/v1/exam/candidates", params={"limit": 500}, headers=wenshui)
            assert director.json()["id"] in {c["manager_id"] for c in page.json()["items"]}

        await eventually(arrived, timeout=20)

    async with httpx.AsyncClient(base_url=system.url("gateway") + "/api/v1/exam", timeout=20) as exam:
        plan = await exam.post(
            "/plans",
            json={
                "title": "文水县质量安全总监线上考核",
                "mode": "online",
                "period_start": today.isoformat(),
                "period_end": (today + timedelta(days=7)).isoformat(),
                "roles": ["quality_director"],
                "kinds": ["production"],
                "sample_ratio": 1,
                "blueprint": SMALL_BLUEPRINT,
            },
            headers=wenshui,
        )
        assert plan.status_code == 201, plan.text
        drawn = await exam.post(f"/plans/{plan.json()['id']}/draw", json={}, headers=wenshui)
        assert drawn.status_code == 200, drawn.text
        notices = (await exam.get("/notices", headers=company)).json()["items"]
        (candidate,) = [n["candidate_id"] for n in notices if n["manager_id"] == director.json()["id"]]

        refused = await exam.post(f"/candidates/{candidate}/sittings", headers=jiaocheng)
        assert refused.status_code == 404 and refused.json()["code"] == "EXAM_CANDIDATE_NOT_FOUND"
        started = await exam.post(f"/candidates/{candidate}/sittings", headers=company)
        assert started.status_code == 201, started.text
        sitting = started.json()
        assert len(sitting["questions"]) == 6 and sitting["max_score"] == 100
        first = sitting["questions"][0]
        url = f"/sittings/{sitting['id']}/answers/{first['question_id']}"
        for applied in (True, False):  # the same save twice: kept once
            saved = await exam.put(url, json={"revision": 1, "answer": ["A"]}, headers=company)
            assert saved.status_code == 200 and saved.json()["applied"] is applied, saved.text
        hidden = await exam.get(f"/sittings/{sitting['id']}", headers=jiaocheng)
        assert hidden.status_code == 404 and hidden.json()["code"] == "EXAM_SITTING_NOT_FOUND"
        done = await exam.post(f"/sittings/{sitting['id']}/submit", headers=company)
        assert done.status_code == 200 and done.json()["submission"] == "person", done.text
        late = await exam.put(url, json={"revision": 2, "answer": ["B"]}, headers=company)
        assert late.status_code == 409 and late.json()["code"] == "EXAM_SITTING_CLOSED"
