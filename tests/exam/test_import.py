"""Importing the question bank from .xlsx and .csv (UTF-8, UTF-8 with BOM, GB18030): every bad row reported with
its row, column and a Chinese reason, the good rows kept, a re-import that changes nothing; the template and
the shipped demo bank."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook

from services.common.auth import Caller
from services.common.settings import Settings
from services.exam.app import create_app
from tests.exam.factories import IMPORT_HEADER, csv_file, row, xlsx_file
from tests.harness import JIAOCHENG, SX_PROVINCE, WENSHUI, identity, serving, statements

pytestmark = pytest.mark.asyncio

DEMO_BANK = Path(__file__).parents[2] / "services" / "exam" / "data" / "bank.csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def upload(
    client: httpx.AsyncClient, settings: Settings, content: bytes, name: str, caller: Caller = SX_PROVINCE
) -> httpx.Response:
    mime = {"xlsx": XLSX, "csv": "text/csv"}.get(name.rsplit(".", 1)[-1], "application/octet-stream")
    return await client.post(
        "/questions/import", files={"file": (name, content, mime)}, headers=identity(settings, caller)
    )


async def bank(
    client: httpx.AsyncClient, settings: Settings, caller: Caller = SX_PROVINCE
) -> dict[str, dict]:
    page = await client.get("/questions", params={"limit": 500}, headers=identity(settings, caller))
    assert page.status_code == 200, page.text
    return {q["code"]: q for q in page.json()["items"]}


async def test_bad_rows_are_reported_by_row_and_column_and_good_rows_kept(
    exam: httpx.AsyncClient, settings: Settings
) -> None:
    rows = [
        row("Q-1"),  # row 2
        row("Q-2", kind="问答题"),  # wrong type
        row("Q-3", 答案=""),  # missing answer
        row("Q-4", kind="多选题", 选项D="第44号", 答案="ABE"),  # a key naming a missing option
        ["", "", "", "", "", "", "", "", "", "", "", "", "", "", ""],  # blank: skipped, keeps its number
        row("Q-5", kind="判断题", 选项A="", 选项B="", 选项C="", 答案="正确"),  # row 7
        row("Q-1"),  # repeated code
        row("Q-6", kind="单选题", 答案="AB"),  # two keys for a single choice
        row("Q-7", kind="判断题", 答案="正确"),  # options on a true/false question
        row("Q-8", 难度="很难", 产品类别="家用燃气灶具、飞毯"),  # difficulty and an unknown product field
        row("Q-9", kind="多选题", 答案="A,C", 产品类别="gas_stove；电动自行车"),  # row 12
    ]
    response = await upload(exam, settings, csv_file(rows), "题库.csv")
    assert response.status_code == 200, response.text
    report = response.json()
    found = {(e["row"], e["column"], e["code"]) for e in report["errors"]}
    assert found == {
        (3, "题型", "IMPORT_CHOICE_INVALID"),
        (4, "答案", "IMPORT_CELL_REQUIRED"),
        (5, "答案", "QUESTION_KEY_INVALID"),
        (8, "题目编号", "IMPORT_DUPLICATE_IN_FILE"),
        (9, "答案", "QUESTION_KEY_INVALID"),
        (10, "选项A", "QUESTION_OPTIONS_INVALID"),
        (11, "难度", "IMPORT_NUMBER_INVALID"),
    }
    messages = {e["row"]: e["message"] for e in report["errors"]}
    assert "E" in messages[5] and "不存在" in messages[5]
    assert "问答题" in messages[3] and "第 2 行" in messages[8]
    assert all(e["question_code"] for e in report["errors"])
    assert (report["created"], report["rejected"], report["new_versions"], report["unchanged"]) == (
        3,
        7,
        0,
        0,
    )
    kept = await bank(exam, settings)
    assert sorted(kept) == ["Q-1", "Q-5", "Q-9"]
    assert kept["Q-5"]["answer"] == ["true"] and kept["Q-5"]["options"] == []
    assert kept["Q-9"]["answer"] == ["A", "C"]
    assert kept["Q-9"]["product_categories"] == ["electric_bicycle", "gas_stove"]

    # The product field alone wrong: the row names it
    again = await upload(exam, settings, csv_file([row("Q-10", 产品类别="飞毯")]), "b.csv")
    assert [(e["column"], e["code"]) for e in again.json()["errors"]] == [
        ("产品类别", "QUESTION_PRODUCT_CATEGORY_UNKNOWN")
    ]


async def test_reimporting_the_same_file_changes_nothing_and_a_changed_row_makes_one_new_version(
    exam: httpx.AsyncClient, settings: Settings
) -> None:
    rows = [row(f"Q-{i}") for i in range(1, 6)]
    first = await upload(exam, settings, xlsx_file(rows), "bank.xlsx")
    assert first.status_code == 200, first.text
    assert (first.json()["created"], first.json()["rejected"]) == (5, 0)
    before = await bank(exam, settings)

    again = (await upload(exam, settings, xlsx_file(rows), "bank.xlsx")).json()
    assert (again["created"], again["new_versions"], again["unchanged"]) == (0, 0, 5)
    assert await bank(exam, settings) == before  # same versions, same timestamps

    rows[2] = row("Q-3", 题干="修改后的题干：“两个规定”是指哪两部总局令？")
    changed = (await upload(exam, settings, xlsx_file(rows), "bank.xlsx")).json()
    assert (changed["created"], changed["new_versions"], changed["unchanged"]) == (0, 1, 4)
    after = await bank(exam, settings)
    assert after["Q-3"]["version"] == 2 and after["Q-3"]["stem"].startswith("修改后")
    assert {code: q["version"] for code, q in after.items() if code != "Q-3"} == dict.fromkeys(
        ["Q-1", "Q-2", "Q-4", "Q-5"], 1
    )
    first_version = await exam.get(
        f"/questions/{after['Q-3']['id']}", params={"version": 1}, headers=identity(settings, SX_PROVINCE)
    )
    assert first_version.json()["stem"] == before["Q-3"]["stem"]

    # A retired question is not brought back by an import
    await exam.post(f"/questions/{after['Q-1']['id']}/retire", headers=identity(settings, SX_PROVINCE))
    rows[0] = row("Q-1", 题干="停用后再导入的题干")
    retired = (await upload(exam, settings, xlsx_file(rows), "bank.xlsx")).json()
    assert [(e["row"], e["code"]) for e in retired["errors"]] == [(2, "QUESTION_RETIRED")]
    assert retired["unchanged"] == 4


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8", "utf-8-sig"])
async def test_csv_in_gb18030_or_utf8_with_or_without_bom(
    exam: httpx.AsyncClient, settings: Settings, encoding: str
) -> None:
    content = csv_file(
        [row("GB-1", 题干="《每日工业产品质量安全检查记录》由谁填写？", 选项A="质量安全员")],
        encoding=encoding,
    )
    if encoding == "gb18030":
        with pytest.raises(UnicodeDecodeError):
            content.decode("utf-8")
    response = await upload(exam, settings, content, "题库.csv")
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1, response.json()
    question = (await bank(exam, settings))["GB-1"]
    assert question["stem"] == "《每日工业产品质量安全检查记录》由谁填写？"
    assert question["options"][0] == {"key": "A", "text": "质量安全员"}


async def test_a_file_without_the_required_columns_or_of_another_type_is_refused(
    exam: httpx.AsyncClient, settings: Settings
) -> None:
    header = [h for h in IMPORT_HEADER if h not in ("答案", "题型")]
    missing = await upload(exam, settings, csv_file([], header=header), "a.csv")
    assert missing.status_code == 422 and missing.json()["code"] == "IMPORT_COLUMNS_MISSING"
    assert set(missing.json()["missing"]) == {"答案", "题型"}
    wrong = await upload(exam, settings, b"%PDF-1.4 not a sheet", "bank.pdf")
    assert wrong.status_code == 422 and wrong.json()["code"] == "IMPORT_FILE_TYPE_UNSUPPORTED"
    assert await bank(exam, settings) == {}


async def test_the_template_downloads_and_imports_as_it_is(
    exam: httpx.AsyncClient, settings: Settings
) -> None:
    response = await exam.get("/questions/import-template.xlsx", headers=identity(settings, WENSHUI))
    assert response.status_code == 200 and response.headers["content-type"] == XLSX
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    assert header[:3] == ["题目编号", "题型", "类别"] and "答案" in header
    report = (await upload(exam, settings, response.content, "template.xlsx", caller=WENSHUI)).json()
    assert (report["created"], report["rejected"]) == (3, 0)
    local = await bank(exam, settings, WENSHUI)
    assert {q["owner_region"] for q in local.values()} == {"141121"}  # a county's import is its local bank
    assert await bank(exam, settings, JIAOCHENG) == {}


async def test_the_shipped_demo_bank_imports_whole_and_names_its_sources(
    exam: httpx.AsyncClient, settings: Settings
) -> None:
    content = DEMO_BANK.read_bytes()
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
    assert 30 <= len(rows) <= 60
    report = (await upload(exam, settings, content, "bank.csv")).json()
    assert (report["created"], report["rejected"]) == (len(rows), 0), report["errors"]
    questions = await bank(exam, settings)
    assert len(questions) == len(rows)
    assert all(q["source"] and ("种子" in q["source"] or "总局令" in q["source"]) for q in questions.values())
    assert {q["category"] for q in questions.values()} == {
        "law_regulation",
        "standard",
        "professional_knowledge",
    }
    assert {q["type"] for q in questions.values()} == {"single_choice", "multiple_choice", "true_false"}
    again = (await upload(exam, settings, content, "bank.csv")).json()
    assert (again["created"], again["new_versions"], again["unchanged"]) == (0, 0, len(rows))


async def test_an_import_writes_set_based_not_row_by_row(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as exam:
        rows = [row(f"S-{i:04d}") for i in range(600)]
        with statements(app) as seen:
            report = (await upload(exam, settings, csv_file(rows), "big.csv")).json()
        assert report["created"] == 600
        writes = [s for s in seen if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]
        assert 2 <= len(writes) <= 4, writes  # questions and versions: one executemany each
        reads = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
        assert 2 <= len(reads) <= 3  # the codes looked up in chunks of 500

        rows[7] = row("S-0007", 题干="改过的题干")
        rows[300] = row("S-0300", 题干="也改过的题干")
        with statements(app) as seen:
            report = (await upload(exam, settings, csv_file(rows), "big.csv")).json()
        assert (report["new_versions"], report["unchanged"]) == (2, 598)
        assert 2 <= len([s for s in seen if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]) <= 4
