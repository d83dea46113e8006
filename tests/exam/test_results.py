"""Exam results through the gateway (one system for the module, every service a process, real NATS): the
published list masks names; failures bar the person in registry, open a rectification and, at the pack's 多次,
summon the unit, which grading raises to key supervision; a key correction turns a fail into a pass, is
published as a correction and registry lifts the bar; a unit sees its own results only; the neighbouring
county sees nothing; the month's counts.

Every sitting goes through the real routes: started by the unit's account or the county's examiner on site,
answered in one batch autosave, submitted and scored by exam."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from services.common.db import today_cn
from services.common.launcher import System
from tests.e2e.client import login
from tests.exam.factories import true_false
from tests.harness import enterprise_body, eventually, id_number, make_uscc, module_system

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

DEMO_BANK = Path(__file__).parents[2] / "services" / "exam" / "data" / "bank.csv"
DEMO_USCC = "91141121MA00000010"  # the unit of the demo enterprise account ent-demo
TODAY = today_cn()
PERIOD = {"period_start": TODAY.isoformat(), "period_end": (TODAY + timedelta(days=30)).isoformat()}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with module_system(tmp_path_factory, "exam-results") as running:
        yield running


class Gateway:
    """The gateway with the demo log-ins (one log-in per user: they are rate-limited)."""

    tokens: ClassVar[dict[str, dict[str, str]]] = {}

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(self, user: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if user not in self.tokens:
            self.tokens[user] = await login(self.http, user)
        return await self.http.request(method, path, headers=self.tokens[user], **kwargs)

    async def ok(self, user: str, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.call(user, method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    async def unit(self, uscc: str) -> str:
        body = enterprise_body(uscc, name=f"示范单位{uscc[-4:]}")
        return (await self.ok("wenshui", "POST", "/api/v1/registry/enterprises", 201, json=body))["id"]

    async def appoint(self, unit: str, serial: int, role: str, name: str, status: int = 201) -> Any:
        body = {
            "role": role,
            "name": name,
            "id_number": id_number(serial),
            "appointed_on": (TODAY - timedelta(days=40)).isoformat(),
        }
        path = f"/api/v1/registry/enterprises/{unit}/managers"
        return await self.ok("wenshui", "POST", path, status, json=body)


# The plan's paper: every general true/false question of 专业知识 the bank has for a production unit (the demo
# bank's 7 and the wrong-keyed RS-1), 12.5 points each, so every paper holds RS-1 and the scores are known.
PAPER = [{"category": "professional_knowledge", "type": "true_false", "count": 8, "points": 12.5}]


async def sit(g: Gateway, user: str, candidate: str, wrong_key: str, given: str, right: int) -> str:
    """A sampled person sits the plan's paper through the real routes (``user``: the unit's own account or the
    county's examiner on site): RS-1 (``wrong_key``) answered ``given``, ``right`` of the other questions
    answered by their key as it stands and the rest the other way; submitted. Returns the sitting's id."""
    sitting = await g.ok(user, "POST", f"/api/v1/exam/candidates/{candidate}/sittings", 201)
    others = [q["question_id"] for q in sitting["questions"] if q["question_id"] != wrong_key]
    assert len(others) == 7, sitting["questions"]
    answers = [{"question_id": wrong_key, "revision": 1, "answer": [given]}]
    for n, question in enumerate(others):
        key = (await g.ok("wenshui", "GET", f"/api/v1/exam/questions/{question}"))["answer"]
        answer = key if n < right else ["false" if key == ["true"] else "true"]
        answers.append({"question_id": question, "revision": 1, "answer": answer})
    await g.ok(user, "PUT", f"/api/v1/exam/sittings/{sitting['id']}/answers", json=answers)
    submitted = await g.ok(user, "POST", f"/api/v1/exam/sittings/{sitting['id']}/submit")
    assert submitted["status"] == "submitted" and submitted["submission"] == "person", submitted
    return sitting["id"]


async def result_of(g: Gateway, plan_id: str, manager_id: str) -> str:
    """The current result of a person in the plan (written when the sitting is submitted)."""
    items = (await g.ok("wenshui", "GET", "/api/v1/exam/results", params={"plan_id": plan_id}))["items"]
    (found,) = [r["id"] for r in items if r["manager_id"] == manager_id]
    return found


async def test_publication_and_its_consequences_then_a_regrade(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url("gateway"), timeout=30) as http:
        g = Gateway(http)
        files = {"file": ("bank.csv", DEMO_BANK.read_bytes(), "text/csv")}
        await g.ok("sx-province", "POST", "/api/v1/exam/questions/import", files=files)
        # A provincial question whose key is wrong (the statement is true, the key says false).
        wrong_key = await g.ok(
            "sx-province",
            "POST",
            "/api/v1/exam/questions",
            201,
            json=true_false(code="RS-1", answer=["false"]),
        )

        demo, other = await g.unit(DEMO_USCC), await g.unit(make_uscc(8101))
        zhang = (await g.appoint(demo, 801, "quality_director", "张三"))["id"]
        ouyang = (await g.appoint(demo, 802, "quality_officer", "欧阳修"))["id"]
        li = (await g.appoint(other, 803, "quality_director", "李四"))["id"]
        wang = (await g.appoint(other, 804, "quality_officer", "王五"))["id"]

        async def arrived() -> None:
            page = await g.ok("wenshui", "GET", "/api/v1/exam/candidates", params={"limit": 500})
            assert {zhang, ouyang, li, wang} <= {c["manager_id"] for c in page["items"]}

        await eventually(arrived, timeout=30)
        plan = await g.ok(
            "wenshui",
            "POST",
            "/api/v1/exam/plans",
            201,
            json={
                "title": "2026年质量安全管理人员监督抽查考核（结果公布）",
                "mode": "online",
                "roles": ["quality_director", "quality_officer"],
                "kinds": ["production"],
                "sample_ratio": 1,
                "blueprint": PAPER,
                **PERIOD,
            },
        )
        plan_id = plan["id"]
        drawn = await g.ok("wenshui", "POST", f"/api/v1/exam/plans/{plan_id}/draw", json={})
        assert {zhang, ouyang, li, wang} <= set(drawn["drawn"])

        candidates = await g.ok("wenshui", "GET", f"/api/v1/exam/plans/{plan_id}/candidates")
        candidate = {c["manager_id"]: c["id"] for c in candidates["items"]}
        # 张三 50 (4 right; RS-1 answered "true" against the wrong key), 欧阳修 37.5, both sitting through their
        # unit's account; 李四 87.5 on site with the examiner: two failures in one unit.
        await sit(g, "ent-demo", candidate[zhang], wrong_key["id"], "true", right=4)
        await sit(g, "ent-demo", candidate[ouyang], wrong_key["id"], "true", right=3)
        await sit(g, "wenshui", candidate[li], wrong_key["id"], "true", right=7)
        r_zhang, r_ouyang, r_li = [await result_of(g, plan_id, m) for m in (zhang, ouyang, li)]

        # Before publication: the unit sees its person's score, not which answers were wrong.
        own = await g.ok("ent-demo", "GET", f"/api/v1/exam/results/{r_zhang}")
        assert (own["score"], own["status"], own["wrong_answers"]) == (50, "pending", None)
        assert own["name_masked"] == "张*" and "张三" not in str(own)
        listed = await g.ok("wenshui", "GET", f"/api/v1/exam/plans/{plan_id}/results/published")
        assert listed["items"] == []

        # Nobody but the organiser publishes; the neighbouring county does not even see the plan.
        refused = await g.call("jiaocheng", "POST", f"/api/v1/exam/plans/{plan_id}/results/publish")
        assert (refused.status_code, refused.json()["code"]) == (404, "EXAM_PLAN_NOT_FOUND")
        refused = await g.call("ent-demo", "POST", f"/api/v1/exam/plans/{plan_id}/results/publish")
        assert (refused.status_code, refused.json()["code"]) == (403, "EXAM_ORGANISER_ONLY")

        report = await g.ok("wenshui", "POST", f"/api/v1/exam/plans/{plan_id}/results/publish")
        assert (report["status"], report["published"], report["failed"]) == ("results_published", 3, 2)
        assert report["published_on"] == TODAY.isoformat()
        assert len(report["rectifications"]) == 1 and len(report["summonses"]) == 1
        again = await g.ok("wenshui", "POST", f"/api/v1/exam/plans/{plan_id}/results/publish")
        assert (again["published"], again["summonses"]) == (0, [])

        # 公布名单: masked names, the unit, the post, 合格/不合格, the score; never a name or an ID number.
        listed = await g.ok("ent-demo", "GET", f"/api/v1/exam/plans/{plan_id}/results/published")
        rows = {row["result_id"]: row for row in listed["items"]}
        assert set(rows) == {r_zhang, r_ouyang, r_li}
        assert (rows[r_zhang]["name_masked"], rows[r_zhang]["result_name"]) == ("张*", "不合格")
        assert (rows[r_ouyang]["name_masked"], rows[r_li]["name_masked"]) == ("欧**", "李*")
        assert (
            rows[r_li]["result_name"] == "合格"
            and rows[r_li]["enterprise_name"] == "示范单位" + make_uscc(8101)[-4:]
        )
        text = json.dumps(listed, ensure_ascii=False)
        assert not any(
            secret in text for secret in ("张三", "欧阳修", "李四", id_number(801), id_number(803))
        )
        hidden = await g.call("jiaocheng", "GET", f"/api/v1/exam/plans/{plan_id}/results/published")
        assert hidden.status_code == 404

        # Registry bars the failed person: disqualified, cannot be appointed again.
        async def barred() -> None:
            manager = await g.ok("wenshui", "GET", f"/api/v1/registry/enterprises/{demo}/managers/{zhang}")
            assert manager["exam_status"] == "disqualified" and not manager["active"], manager

        await eventually(barred, timeout=30)
        refused = await g.appoint(other, 801, "quality_officer", "张三", status=409)
        assert refused["code"] == "MANAGER_DISQUALIFIED"

        # Two failures of one unit (the pack's 多次 = 2) → summons → grading raises the unit to key.
        async def raised() -> dict:
            graded = await g.ok("wenshui", "GET", f"/api/v1/grading/enterprises/{demo}")
            assert graded["decision"]["supervision_class"] == "key", graded["decision"]
            return graded

        decision = (await eventually(raised, timeout=30))["decision"]
        assert any("约谈" in reason["text"] for reason in decision["reasons"]), decision["reasons"]
        summonses = (await g.ok("wenshui", "GET", "/api/v1/exam/summonses"))["items"]
        assert [(s["enterprise_id"], s["failures"], s["status"]) for s in summonses] == [(demo, 2, "due")]
        assert sorted(summonses[0]["result_ids"]) == sorted([r_zhang, r_ouyang])
        assert (await g.ok("jiaocheng", "GET", "/api/v1/exam/summonses"))["items"] == []
        path = f"/api/v1/exam/summonses/{summonses[0]['id']}/held"
        held = {
            "held_on": TODAY.isoformat(),
            "held_by": "文水县市场监管局 王科长",
            "outcome": "单位承诺更换人员",
        }
        assert (await g.call("jiaocheng", "POST", path, json=held)).status_code == 404
        assert (await g.call("ent-demo", "POST", path, json=held)).status_code == 403
        future = {**held, "held_on": (TODAY + timedelta(days=1)).isoformat()}
        assert (await g.call("wenshui", "POST", path, json=future)).json()["code"] == "EXAM_DATE_IN_FUTURE"
        done = await g.ok("wenshui", "POST", path, json=held)
        assert (done["status"], done["held_by"]) == ("held", held["held_by"])
        assert (await g.call("wenshui", "POST", path, json=held)).json()[
            "code"
        ] == "EXAM_SUMMONS_ALREADY_HELD"

        # The unit sees its own results, with the wrong answers now; not another unit's.
        mine = (await g.ok("ent-demo", "GET", "/api/v1/exam/results"))["items"]
        assert {r["id"] for r in mine} == {r_zhang, r_ouyang}
        assert (await g.call("ent-demo", "GET", f"/api/v1/exam/results/{r_li}")).status_code == 404
        own = await g.ok("ent-demo", "GET", f"/api/v1/exam/results/{r_zhang}")
        wrong = {w["question_id"]: (w["given"], w["key"]) for w in own["wrong_answers"]}
        assert len(wrong) == 4 and wrong[wrong_key["id"]] == (["true"], ["false"])
        assert (await g.ok("jiaocheng", "GET", "/api/v1/exam/results", params={"plan_id": plan_id}))[
            "items"
        ] == []
        assert (await g.call("jiaocheng", "GET", f"/api/v1/exam/results/{r_zhang}")).status_code == 404

        # 督促整改: opened for the unit with failed persons, due in the pack's 30 days; closed by the county.
        opened = (await g.ok("wenshui", "GET", "/api/v1/exam/rectifications", params={"status": "open"}))[
            "items"
        ]
        assert [(r["enterprise_id"], sorted(r["manager_ids"])) for r in opened] == [
            (demo, sorted([zhang, ouyang]))
        ]
        assert opened[0]["due_on"] == (TODAY + timedelta(days=30)).isoformat() and not opened[0]["overdue"]
        assert (await g.ok("wenshui", "GET", "/api/v1/exam/rectifications", params={"overdue": True}))[
            "items"
        ] == []
        assert (await g.ok("jiaocheng", "GET", "/api/v1/exam/rectifications"))["items"] == []
        close = f"/api/v1/exam/rectifications/{opened[0]['id']}/close"
        assert (await g.call("jiaocheng", "POST", close, json={"note": "x"})).status_code == 404
        closed = await g.ok("wenshui", "POST", close, json={"note": "已更换为考核合格人员"})
        assert (closed["status"], closed["closed_on"]) == ("done", TODAY.isoformat())
        assert (await g.call("wenshui", "POST", close, json={"note": "x"})).json()[
            "code"
        ] == "EXAM_RECTIFICATION_CLOSED"

        # 附件5 counts of the month: 3 人次 of production units, 1 家次 urged; the neighbour counts none of it.
        month = TODAY.strftime("%Y-%m")
        counts = await g.ok("wenshui", "GET", "/api/v1/exam/counts", params={"month": month})
        assert counts["items"] == [
            {"region_code": "141121", "production_persons": 3, "sales_persons": 0, "rectified_units": 1}
        ]
        neighbour = await g.ok("jiaocheng", "GET", "/api/v1/exam/counts", params={"month": month})
        assert neighbour["items"] == [] and neighbour["total"]["production_persons"] == 0
        earlier = (TODAY.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        assert (await g.ok("wenshui", "GET", "/api/v1/exam/counts", params={"month": earlier}))["items"] == []
        bad = await g.call("wenshui", "GET", "/api/v1/exam/counts", params={"month": "2026-13"})
        assert (bad.status_code, bad.json()["code"]) == (422, "EXAM_MONTH_INVALID")
        foreign = await g.call(
            "wenshui", "GET", "/api/v1/exam/counts", params={"month": month, "region": "141122"}
        )
        assert foreign.status_code == 403

        # 阅卷更正: the key was wrong. Only the bank's keeper corrects it; every sitting is rescored.
        key_path = f"/api/v1/exam/questions/{wrong_key['id']}/versions/1/key-correction"
        body = {"answer": ["true"], "reason": "原答案有误，依据种子001 三（五）更正为“正确”"}
        refused = await g.call("wenshui", "POST", key_path, json=body)
        assert (refused.status_code, refused.json()["code"]) == (403, "QUESTION_EDIT_FORBIDDEN")
        assert (await g.call("jiaocheng", "POST", key_path, json=body)).status_code == 403
        corrected = await g.ok("sx-province", "POST", key_path, json=body)
        assert (corrected["rescored"], corrected["changed"], len(corrected["corrections"])) == (3, 3, 3)
        unchanged = await g.call("sx-province", "POST", key_path, json=body)
        assert unchanged.json()["code"] == "EXAM_KEY_UNCHANGED"

        now = {
            r["manager_id"]: r
            for r in (await g.ok("wenshui", "GET", "/api/v1/exam/results", params={"plan_id": plan_id}))[
                "items"
            ]
        }
        assert (now[zhang]["score"], now[zhang]["result"], now[zhang]["correction_of"]) == (
            62.5,
            "qualified",
            r_zhang,
        )
        assert now[zhang]["reason"].startswith("阅卷更正：") and now[zhang]["status"] == "published"
        assert (now[ouyang]["score"], now[ouyang]["result"]) == (50, "failed")
        every = await g.ok(
            "wenshui", "GET", "/api/v1/exam/results", params={"plan_id": plan_id, "include_superseded": True}
        )
        assert sorted(r["status"] for r in every["items"]) == ["published"] * 3 + ["superseded"] * 3

        # Registry lifts the bar of the fail turned into a pass: 张三 is qualified and may be appointed again.
        async def lifted() -> None:
            manager = await g.ok("wenshui", "GET", f"/api/v1/registry/enterprises/{demo}/managers/{zhang}")
            assert manager["exam_status"] == "qualified", manager

        await eventually(lifted, timeout=30)
        await g.appoint(demo, 801, "quality_director", "张三")

        # The correction of a failure into a failure is not a new summons; corrections are not new 人次.
        assert len((await g.ok("wenshui", "GET", "/api/v1/exam/summonses"))["items"]) == 1
        counts = await g.ok("wenshui", "GET", "/api/v1/exam/counts", params={"month": month})
        assert counts["total"]["production_persons"] == 3

        # A sitting submitted after publication is published at once, with the same consequences.
        await sit(g, "wenshui", candidate[wang], wrong_key["id"], "false", right=2)  # 25 against the new key
        r_wang = await result_of(g, plan_id, wang)

        async def published() -> dict:
            result = await g.ok("wenshui", "GET", f"/api/v1/exam/results/{r_wang}")
            assert result["status"] == "published", result
            return result

        late = await eventually(published, timeout=30)
        assert (late["published_on"], late["result"], late["score"]) == (TODAY.isoformat(), "failed", 25)
        opened = (await g.ok("wenshui", "GET", "/api/v1/exam/rectifications", params={"status": "open"}))[
            "items"
        ]
        assert [(r["enterprise_id"], r["manager_ids"]) for r in opened] == [(other, [wang])]
        counts = await g.ok("wenshui", "GET", "/api/v1/exam/counts", params={"month": month})
        assert (counts["total"]["production_persons"], counts["total"]["rectified_units"]) == (4, 2)
