"""The question bank over a real database and a real NATS: versions kept read-only, answer keys checked, the
province's bank and the local questions of a city or county seen only where they belong."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.common.auth import Caller
from services.common.settings import Settings
from tests.exam.factories import LVLIANG, TAIYUAN, WENSHUI_STATION, single_choice, true_false
from tests.harness import JIAOCHENG, SX_PROVINCE, WENSHUI, enterprise_caller, identity

pytestmark = pytest.mark.asyncio


async def create(client: httpx.AsyncClient, settings: Settings, caller: Caller, body: dict) -> dict:
    response = await client.post("/questions", json=body, headers=identity(settings, caller))
    assert response.status_code == 201, response.text
    return response.json()


async def test_an_edit_makes_a_new_version_and_the_old_one_stays_readable(
    exam: httpx.AsyncClient, settings: Settings
) -> None:
    headers = identity(settings, SX_PROVINCE)
    question = await create(exam, settings, SX_PROVINCE, single_choice(code="SX-001"))
    assert (question["version"], question["scope"], question["owner_region"]) == (1, "province", "140000")
    assert question["roles"] == ["quality_director", "quality_officer"] and question["answer"] == ["B"]

    edited = single_choice(stem="“两个规定”中规范生产单位的是总局第几号令？", version=1)
    response = await exam.put(f"/questions/{question['id']}", json=edited, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2 and response.json()["stem"].startswith("“两个规定”")

    # The version a paper drew stays as it was
    old = await exam.get(f"/questions/{question['id']}", params={"version": 1}, headers=headers)
    assert old.status_code == 200
    assert (old.json()["version"], old.json()["current_version"]) == (1, 2)
    assert old.json()["stem"] == question["stem"]
    versions = (await exam.get(f"/questions/{question['id']}/versions", headers=headers)).json()
    assert [v["version"] for v in versions] == [1, 2]
    missing = await exam.get(f"/questions/{question['id']}", params={"version": 3}, headers=headers)
    assert missing.status_code == 404 and missing.json()["code"] == "QUESTION_VERSION_NOT_FOUND"

    # An edit of version 1 after version 2 exists is stale; the same content again is no new version
    stale = await exam.put(f"/questions/{question['id']}", json={**edited, "difficulty": 4}, headers=headers)
    assert stale.status_code == 409 and stale.json()["code"] == "QUESTION_VERSION_STALE"
    same = await exam.put(f"/questions/{question['id']}", json={**edited, "version": 2}, headers=headers)
    assert same.status_code == 200 and same.json()["version"] == 2
    assert len((await exam.get(f"/questions/{question['id']}/versions", headers=headers)).json()) == 2

    # Retired: not listed by default, shown as retired, never edited again
    retired = await exam.post(f"/questions/{question['id']}/retire", headers=headers)
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    assert retired.json()["retired_at"] is not None
    listed = (await exam.get("/questions", headers=headers)).json()["items"]
    assert question["id"] not in [q["id"] for q in listed]
    with_retired = (await exam.get("/questions", params={"include_retired": True}, headers=headers)).json()
    assert [q["status"] for q in with_retired["items"] if q["id"] == question["id"]] == ["retired"]
    refused = await exam.put(f"/questions/{question['id']}", json={**edited, "version": 2}, headers=headers)
    assert refused.status_code == 409 and refused.json()["code"] == "QUESTION_RETIRED"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (single_choice(answer=["A", "B"]), "QUESTION_KEY_INVALID", "answer"),
        (single_choice(type="multiple_choice", answer=["B"]), "QUESTION_KEY_INVALID", "answer"),
        (single_choice(answer=["E"]), "QUESTION_KEY_INVALID", "answer"),
        (true_false(answer=["maybe"]), "QUESTION_KEY_INVALID", "answer"),
        (
            true_false(options=[{"key": "A", "text": "对"}, {"key": "B", "text": "错"}]),
            "QUESTION_OPTIONS_INVALID",
            "options",
        ),
        (
            single_choice(options=[{"key": "A", "text": "第75号"}], answer=["A"]),
            "QUESTION_OPTIONS_INVALID",
            "options",
        ),
        (
            single_choice(product_categories=["gas_stove", "flying_carpet"]),
            "QUESTION_PRODUCT_CATEGORY_UNKNOWN",
            "product_categories",
        ),
    ],
)
async def test_an_inconsistent_answer_key_is_refused_field_by_field(
    exam: httpx.AsyncClient, settings: Settings, body: dict, code: str, field: str
) -> None:
    response = await exam.post("/questions", json=body, headers=identity(settings, SX_PROVINCE))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == code and problem["errors"][0]["field"] == field
    assert problem["errors"][0]["code"] == code and problem["detail"]
    assert (await exam.get("/questions", headers=identity(settings, SX_PROVINCE))).json()["items"] == []


async def test_several_problems_are_all_reported(exam: httpx.AsyncClient, settings: Settings) -> None:
    body = single_choice(answer=["A", "C"], product_categories=["flying_carpet"])
    response = await exam.post("/questions", json=body, headers=identity(settings, SX_PROVINCE))
    assert response.status_code == 422 and response.json()["code"] == "QUESTION_INVALID"
    assert {e["field"] for e in response.json()["errors"]} == {"answer", "product_categories"}


async def test_a_multiple_choice_and_a_true_false_question_are_kept_as_entered(
    exam: httpx.AsyncClient, settings: Settings
) -> None:
    body = single_choice(
        type="multiple_choice",
        options=[{"key": k, "text": f"选项{k}"} for k in "ABCD"],
        answer=["c", "A"],
        roles=["quality_officer"],
        kinds=["sales"],
        product_categories=["gas_hose", "gas_stove"],
    )
    multiple = await create(exam, settings, SX_PROVINCE, body)
    assert multiple["answer"] == ["A", "C"]  # upper case, in option order
    assert (multiple["roles"], multiple["kinds"]) == (["quality_officer"], ["sales"])
    assert multiple["product_categories"] == ["gas_hose", "gas_stove"]
    judged = await create(exam, settings, SX_PROVINCE, true_false())
    assert (judged["options"], judged["answer"]) == ([], ["true"])


async def test_a_county_never_sees_its_neighbours_local_questions(
    exam: httpx.AsyncClient, settings: Settings
) -> None:
    provincial = await create(exam, settings, SX_PROVINCE, single_choice(code="SX-001"))
    wenshui = await create(exam, settings, WENSHUI, true_false(code="WS-001"))
    city = await create(exam, settings, LVLIANG, true_false(code="LL-001", stem="吕梁市本地题目"))
    taiyuan = await create(exam, settings, TAIYUAN, true_false(code="TY-001", stem="太原市本地题目"))
    assert wenshui["scope"] == "local" and wenshui["owner_region"] == "141121"

    async def seen(caller: Caller) -> set[str]:
        page = await exam.get("/questions", headers=identity(settings, caller))
        assert page.status_code == 200, page.text
        return {q["code"] for q in page.json()["items"]}

    assert await seen(WENSHUI) == {"SX-001", "WS-001", "LL-001"}
    assert await seen(JIAOCHENG) == {"SX-001", "LL-001"}  # its city's and its province's, not Wenshui's
    assert await seen(LVLIANG) == {"SX-001", "WS-001", "LL-001"}
    assert await seen(WENSHUI_STATION) == {"SX-001", "WS-001", "LL-001"}
    assert await seen(SX_PROVINCE) == {"SX-001", "WS-001", "LL-001", "TY-001"}
    hidden = await exam.get(f"/questions/{wenshui['id']}", headers=identity(settings, JIAOCHENG))
    assert hidden.status_code == 404 and hidden.json()["code"] == "QUESTION_NOT_FOUND"
    for path in (f"/questions/{wenshui['id']}/versions", f"/questions/{taiyuan['id']}"):
        assert (await exam.get(path, headers=identity(settings, JIAOCHENG))).status_code == 404

    # Each bank is kept by its own level: seen is not editable
    edit = {**true_false(), "version": 1}
    for caller, question in ((WENSHUI, provincial), (LVLIANG, wenshui), (SX_PROVINCE, wenshui)):
        response = await exam.put(
            f"/questions/{question['id']}", json=edit, headers=identity(settings, caller)
        )
        assert response.status_code == 403 and response.json()["code"] == "QUESTION_EDIT_FORBIDDEN"
    retire = await exam.post(f"/questions/{provincial['id']}/retire", headers=identity(settings, WENSHUI))
    assert retire.status_code == 403
    station = await exam.post("/questions", json=true_false(), headers=identity(settings, WENSHUI_STATION))
    assert station.status_code == 403 and station.json()["code"] == "QUESTION_EDIT_FORBIDDEN"
    mine = await exam.put(f"/questions/{wenshui['id']}", json=edit, headers=identity(settings, WENSHUI))
    assert mine.status_code == 200, mine.text
    assert city["owner_region"] == "141100"


async def test_enterprise_accounts_cannot_read_the_bank(exam: httpx.AsyncClient, settings: Settings) -> None:
    question = await create(exam, settings, SX_PROVINCE, single_choice())
    company = identity(settings, enterprise_caller("91141121MA00000010"))
    for method, path in (
        ("GET", "/questions"),
        ("GET", f"/questions/{question['id']}"),
        ("GET", f"/questions/{question['id']}/versions"),
        ("GET", "/questions/import-template.xlsx"),
        ("POST", f"/questions/{question['id']}/retire"),
    ):
        response = await exam.request(method, path, headers=company)
        assert response.status_code == 403, (path, response.text)
        assert (
            response.json()["code"] == "QUESTION_BANK_REGULATOR_ONLY" and "答案" in response.json()["detail"]
        )
        assert question["stem"] not in response.text and question["explanation"] not in response.text
    created = await exam.post("/questions", json=single_choice(), headers=company)
    assert created.status_code == 403 and created.json()["code"] == "QUESTION_BANK_REGULATOR_ONLY"
    sheet = {"file": ("bank.csv", "题目编号,题型\n".encode(), "text/csv")}
    imported = await exam.post("/questions/import", files=sheet, headers=company)
    assert imported.status_code == 403 and imported.json()["code"] == "QUESTION_BANK_REGULATOR_ONLY"
    station = await exam.post("/questions/import", files=sheet, headers=identity(settings, WENSHUI_STATION))
    assert station.status_code == 403 and station.json()["code"] == "QUESTION_EDIT_FORBIDDEN"


async def test_codes_are_unique_per_bank_and_the_list_filters_and_pages(
    exam: httpx.AsyncClient, settings: Settings
) -> None:
    headers = identity(settings, SX_PROVINCE)
    await create(exam, settings, SX_PROVINCE, single_choice(code="SX-001"))
    again = await exam.post("/questions", json=single_choice(code="SX-001"), headers=headers)
    assert again.status_code == 409 and again.json()["code"] == "QUESTION_CODE_DUPLICATE"
    await create(exam, settings, WENSHUI, single_choice(code="SX-001"))  # another bank, the same code: fine
    await create(exam, settings, SX_PROVINCE, true_false(code="SX-002", roles=["quality_officer"]))
    await create(exam, settings, SX_PROVINCE, true_false(code="SX-003", kinds=["sales"], category="standard"))
    generated = await create(exam, settings, SX_PROVINCE, single_choice(stem="自动编号的题目（100%_通过）"))
    assert generated["code"].startswith("Q-")

    async def codes(**params: object) -> list[str]:
        page = await exam.get("/questions", params={"owner_region": "140000", **params}, headers=headers)
        assert page.status_code == 200, page.text
        return sorted(q["code"] for q in page.json()["items"])

    assert await codes(type="true_false") == ["SX-002", "SX-003"]
    assert await codes(role="quality_director") == sorted(["SX-001", "SX-003", generated["code"]])
    assert await codes(kind="production") == sorted(["SX-001", "SX-002", generated["code"]])
    assert await codes(category="standard") == ["SX-003"]
    assert await codes(q="SX-002") == ["SX-002"]
    assert await codes(q="100%_") == [generated["code"]]  # LIKE wildcards are matched literally
    assert await codes(q="_%") == []  # would match everything as a pattern
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await exam.get("/questions", params=params, headers=headers)).json()
        seen += [q["id"] for q in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    bad = await exam.get("/questions", params={"cursor": "nonsense"}, headers=headers)
    assert bad.status_code == 422


async def test_concurrent_edits_of_one_version_make_one_new_version(
    exam: httpx.AsyncClient, settings: Settings
) -> None:
    headers = identity(settings, SX_PROVINCE)
    question = await create(exam, settings, SX_PROVINCE, single_choice())
    edits = [single_choice(stem=f"第 {i} 种改法：生产单位适用总局第几号令？", version=1) for i in range(6)]
    answers = await asyncio.gather(
        *(exam.put(f"/questions/{question['id']}", json=body, headers=headers) for body in edits)
    )
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409, 409, 409], [a.text for a in answers]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"QUESTION_VERSION_STALE"}
    winner = next(a.json() for a in answers if a.status_code == 200)
    versions = (await exam.get(f"/questions/{question['id']}/versions", headers=headers)).json()
    assert [v["version"] for v in versions] == [1, 2] and versions[1]["stem"] == winner["stem"]
