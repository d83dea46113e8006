"""Ledger import and export over a real database and a real NATS: bad rows reported and left out, good rows
written whole, re-imports that change nothing, exports that import back unchanged, jurisdiction throughout."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import nats
import pytest
from fastapi import FastAPI
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from services.common.auth import Caller
from services.common.messaging import OutboxMessage
from services.common.settings import Settings
from services.registry import transfer
from services.registry.app import create_app
from services.registry.models import AuditEntry, Certificate, Enterprise, ProductCategoryLink
from services.registry.transfer import HEADERS
from tests.harness import (
    JIAOCHENG,
    SX_PROVINCE,
    WENSHUI,
    enterprise_body,
    eventually,
    identity,
    make_uscc,
    serving,
)

pytestmark = pytest.mark.asyncio

PERSONNEL = Caller(username="wenshui-hr", role="personnel_officer", region_code="141121")
UNIT_ACCOUNT = Caller(username="unit", role="enterprise", region_code="141121", uscc=make_uscc(1))


def sheet_row(uscc: str, **cells: Any) -> list[Any]:
    """One row in the sheet layout: a valid production unit of 文水县 unless ``cells`` (by header) say otherwise."""
    row = {
        "统一社会信用代码": uscc,
        "单位名称": f"文水县导入测试{uscc[-4:]}有限公司",
        "单位类型": "生产",
        "注册地行政区划代码": "141121",
        "注册地址": "文水县凤城镇工业园区",
        "主要负责人": "王建国",
        "主要负责人电话": "13812345678",
        "从业人员（人）": 25,
        "营业收入（万元）": 1500,
        "规模数据年度": 2025,
        "产品类别": "家用燃气灶具、机动车辆及安全附件（含轮胎、安全带等）",
        "生产许可证编号": "",
        "录入原因": "监督抽查",
        **cells,
    }
    return [row.get(header, "") for header in HEADERS]


def as_csv(rows: list[list[Any]], header: list[str] = HEADERS, encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def as_xlsx(rows: list[list[Any]], header: list[str] = HEADERS) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append([None if value == "" else value for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def sheet_file(rows: list[list[Any]], kind: str) -> bytes:
    return as_csv(rows) if kind == "csv" else as_xlsx(rows)


async def upload(
    client: httpx.AsyncClient,
    settings: Settings,
    caller: Caller,
    content: bytes,
    name: str,
    *,
    dry_run: bool = False,
) -> httpx.Response:
    return await client.post(
        "/enterprises/import",
        params={"dry_run": str(dry_run).lower()},
        files={"file": (name, content)},
        headers=identity(settings, caller),
    )


def read_sheet(content: bytes, kind: str) -> list[list[Any]]:
    if kind == "csv":
        return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    rows = [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]
    width = len(rows[0])
    return [row + [""] * (width - len(row)) for row in rows]  # trailing blank cells are not stored


async def count(app: FastAPI, model: Any, *where: Any) -> int:
    async with app.state.db.session() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def units_by_uscc(app: FastAPI) -> dict[str, Enterprise]:
    async with app.state.db.session() as session:
        return {e.uscc: e for e in (await session.execute(select(Enterprise))).scalars()}


async def stream_subjects(settings: Settings) -> dict[str, int]:
    """Messages in QSR_REGISTRY by subject."""
    nc = await nats.connect(settings.nats_url)
    try:
        info = await nc.jetstream().stream_info("QSR_REGISTRY", subjects_filter="qsr.registry.>")
        return dict(info.state.subjects or {})
    finally:
        await nc.close()


async def all_published(app: FastAPI) -> None:
    pending = await count(app, OutboxMessage, OutboxMessage.published_at.is_(None))  # type: ignore[union-attr]
    assert pending == 0


BAD_FILE_ROWS = [
    sheet_row(make_uscc(1), 生产许可证编号="XK06-001-00001", 生产许可证有效期至="2028-06-30"),  # row 2: good
    sheet_row(make_uscc(2)[:-1] + ("0" if make_uscc(2)[-1] != "0" else "1")),  # row 3: bad check character
    sheet_row(make_uscc(3), 注册地行政区划代码="141199"),  # row 4: no such county
    sheet_row(make_uscc(4), 单位类型="销售", 产品类别=""),  # row 5: a seller without its channel
    sheet_row(make_uscc(5), **{"从业人员（人）": "二十多"}),  # row 6: not a number
    sheet_row(make_uscc(6), 单位类型="销售", 销售渠道="批发", 产品类别="电动自行车"),  # row 7: good
    sheet_row(make_uscc(1), 单位名称="重复的单位"),  # row 8: the USCC of row 2 again
    sheet_row(make_uscc(7, "141122"), 注册地行政区划代码="141122"),  # row 9: 交城县, not ours
    [""] * len(HEADERS),  # row 10: blank, skipped
    sheet_row(make_uscc(8), CCC证书编号="2024010301000001；2024010301000002", 产品类别="gas_stove"),  # row 11
]
EXPECTED_ERRORS = [
    (3, "统一社会信用代码", "USCC_INVALID"),
    (4, "注册地行政区划代码", "REGION_CODE_INVALID"),
    (5, "销售渠道", "SALES_CHANNEL_INVALID"),
    (6, "从业人员（人）", "IMPORT_NUMBER_INVALID"),
    (8, "统一社会信用代码", "IMPORT_DUPLICATE_IN_FILE"),
    (9, "注册地行政区划代码", "REGION_OUT_OF_JURISDICTION"),
]


@pytest.mark.parametrize(
    ("kind", "reader"),
    [("csv", "thread"), ("xlsx", "thread"), ("csv", "process"), ("xlsx", "process"), ("xlsx", "streamed")],
)
async def test_bad_rows_are_reported_and_left_out_while_good_rows_are_written(
    settings: Settings, kind: str, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = sheet_file(BAD_FILE_ROWS, kind)
    if reader == "process":  # what a large file gets: rows read and checked in a child process
        monkeypatch.setattr(transfer, "PROCESS_READ_MIN_BYTES", 0)
        if kind == "xlsx":  # and the table starting in column C: columns are found by their headers
            content = as_xlsx([["", "", *row] for row in BAD_FILE_ROWS], ["", "", *HEADERS])
    if reader == "streamed":  # what a very large .xlsx gets: openpyxl, which streams
        monkeypatch.setattr(transfer, "XLSX_IN_MEMORY_MAX_BYTES", 0)
    app = create_app(settings)
    async with serving(app) as client:
        response = await upload(client, settings, WENSHUI, content, f"台账.{kind}")
        assert response.status_code == 201, response.text
        job = response.json()
        assert (job["total_rows"], job["created"], job["updated"], job["unchanged"], job["rejected"]) == (
            9,
            3,
            0,
            0,
            6,
        )
        assert job["status"] == "done" and job["error_count"] == 6
        assert [(e["row"], e["column"], e["code"]) for e in job["errors"]] == EXPECTED_ERRORS
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in e["message"]) for e in job["errors"])
        assert job["errors"][4]["message"].find("第 2 行") >= 0

        units = await units_by_uscc(app)
        assert set(units) == {make_uscc(1), make_uscc(6), make_uscc(8)}
        assert units[make_uscc(1)].name.startswith("文水县导入测试")  # row 2's, not the duplicate's
        assert units[make_uscc(1)].entry_path == "import" and units[make_uscc(1)].entry_reason == "spot_check"
        assert units[make_uscc(6)].sales_channel == "wholesale"
        # Children of good rows only: 2 + 1 + 1 categories, 1 licence + 2 CCC certificates.
        assert await count(app, ProductCategoryLink) == 4
        assert await count(app, Certificate) == 3
        assert await count(app, AuditEntry) == 3
        got = await client.get(
            f"/enterprises/{units[make_uscc(1)].id}", headers=identity(settings, PERSONNEL)
        )
        record = got.json()
        assert record["product_categories"] == ["gas_stove", "motor_vehicle_parts"]
        assert record["principal_phone"] == "13812345678"
        assert [(c["kind"], c["number"], c["valid_until"]) for c in record["certificates"]] == [
            ("production_licence", "XK06-001-00001", "2028-06-30")
        ]

        async def three_registered() -> None:
            assert await stream_subjects(settings) == {"qsr.registry.enterprise.registered": 3}

        await eventually(three_registered)

        for fmt in ("csv", "xlsx"):
            sheet = await client.get(
                f"/imports/{job['id']}/errors.{fmt}", headers=identity(settings, WENSHUI)
            )
            assert sheet.status_code == 200, sheet.text
            assert "attachment" in sheet.headers["content-disposition"]
            rows = read_sheet(sheet.content, fmt)
            assert rows[0] == ["行号", "列", "错误代码", "错误说明", "统一社会信用代码"]
            assert [(int(r[0]), r[1], r[2]) for r in rows[1:]] == EXPECTED_ERRORS
            assert rows[1][4] == BAD_FILE_ROWS[1][0] and rows[5][4] == make_uscc(1)

        again = await client.get(f"/imports/{job['id']}", headers=identity(settings, SX_PROVINCE))
        assert again.status_code == 200
        assert again.json()["rejected"] == 6 and len(again.json()["errors"]) == 6


async def test_a_dry_run_checks_everything_and_writes_nothing(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        content = as_csv(BAD_FILE_ROWS)
        dry = await upload(client, settings, WENSHUI, content, "台账.csv", dry_run=True)
        assert dry.status_code == 201, dry.text
        assert dry.json()["dry_run"] is True
        assert (dry.json()["created"], dry.json()["rejected"]) == (3, 6)
        assert [(e["row"], e["column"], e["code"]) for e in dry.json()["errors"]] == EXPECTED_ERRORS
        for model in (Enterprise, ProductCategoryLink, Certificate, AuditEntry, OutboxMessage):
            assert await count(app, model) == 0, model
        real = await upload(client, settings, WENSHUI, content, "台账.csv")
        assert (real.json()["created"], real.json()["rejected"]) == (3, 6)
        assert await count(app, Enterprise) == 3


async def test_reimporting_the_same_file_changes_nothing_and_a_changed_row_updates_only_its_unit(
    settings: Settings,
) -> None:
    app = create_app(settings)
    rows = [sheet_row(make_uscc(n), 主要负责人电话=f"1391234{n:04d}") for n in range(1, 11)]
    async with serving(app) as client:
        first = await upload(client, settings, WENSHUI, as_xlsx(rows), "第一批.xlsx")
        assert first.json()["created"] == 10

        async def ten_registered() -> None:
            await all_published(app)
            assert await stream_subjects(settings) == {"qsr.registry.enterprise.registered": 10}

        await eventually(ten_registered)
        audits = await count(app, AuditEntry)

        second = await upload(client, settings, WENSHUI, as_xlsx(rows), "第一批.xlsx")
        job = second.json()
        assert (job["created"], job["updated"], job["unchanged"], job["rejected"]) == (0, 0, 10, 0)
        assert await count(app, AuditEntry) == audits
        assert await count(app, OutboxMessage) == 10  # no event was written, so none can reach the stream
        assert await stream_subjects(settings) == {"qsr.registry.enterprise.registered": 10}
        assert {e.version for e in (await units_by_uscc(app)).values()} == {1}

        rows[3] = sheet_row(make_uscc(4), 主要负责人电话="13912340004", **{"从业人员（人）": 320})
        third = await upload(client, settings, WENSHUI, as_csv(rows), "第二批.csv")
        job = third.json()
        assert (job["created"], job["updated"], job["unchanged"]) == (0, 1, 9), job
        units = await units_by_uscc(app)
        assert {u: e.version for u, e in units.items() if e.version != 1} == {make_uscc(4): 2}
        assert units[make_uscc(4)].employees == 320
        history = await client.get(
            f"/enterprises/{units[make_uscc(4)].id}/history", headers=identity(settings, WENSHUI)
        )
        latest = history.json()["items"][-1]
        assert latest["action"] == "imported" and latest["reason"] == "批量导入 第二批.csv"
        assert latest["changes"] == {"employees": [25, 320]}

        async def one_updated() -> None:
            subjects = await stream_subjects(settings)
            assert subjects.get("qsr.registry.enterprise.updated") == 1

        await eventually(one_updated)


async def test_an_export_imports_back_unchanged_and_masks_the_phone_for_a_regulator(
    settings: Settings,
) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        entered = enterprise_body(
            make_uscc(20),
            name="=SUM(1,2) 文水县公式阀门厂",
            principal_phone="13700001111",
            product_categories=["child_products", "gas_hose"],
            certificates=[
                {
                    "kind": "production_licence",
                    "number": "XK06-002-00020",
                    "category_code": "gas_hose",
                    "valid_from": "2023-01-01",
                    "valid_until": "2028-01-01",
                },
                {"kind": "ccc", "number": "2024010301000020"},
                {"kind": "ccc", "number": "2024010301000021", "valid_until": "2029-05-01"},
            ],
            sites=[{"region_code": "141122", "address": "交城县夏家营镇"}],
            station_code="141121001",
            revenue_wan_yuan=1234.5678,
            entry_note="2025年监督抽查发现",
        )
        created = await client.post("/enterprises", json=entered, headers=identity(settings, WENSHUI))
        assert created.status_code == 201, created.text
        seller = enterprise_body(
            make_uscc(21), kind="sales", sales_channel="retail", principal_phone="0358-7221234"
        )
        assert (
            await client.post("/enterprises", json=seller, headers=identity(settings, WENSHUI))
        ).status_code == 201
        rows = [sheet_row(make_uscc(n)) for n in range(22, 25)]
        assert (await upload(client, settings, WENSHUI, as_csv(rows), "x.csv")).json()["created"] == 3
        audits = await count(app, AuditEntry)

        for caller in (WENSHUI, PERSONNEL):
            for fmt in ("csv", "xlsx"):
                exported = await client.get(
                    "/enterprises/export", params={"format": fmt}, headers=identity(settings, caller)
                )
                assert exported.status_code == 200, exported.text
                sheet = read_sheet(exported.content, fmt)
                assert sheet[0] == HEADERS and len(sheet) == 6
                assert all(len(r) == len(HEADERS) for r in sheet), (fmt, sheet)
                by_uscc = {r[0]: dict(zip(HEADERS, r, strict=True)) for r in sheet[1:]}
                phone = by_uscc[make_uscc(20)]["主要负责人电话"]
                assert phone == ("137****1111" if caller is WENSHUI else "13700001111")
                assert by_uscc[make_uscc(20)]["单位名称"].lstrip("'") == entered["name"]
                again = await upload(client, settings, caller, exported.content, f"导出.{fmt}")
                job = again.json()
                assert (job["created"], job["updated"], job["unchanged"], job["rejected"]) == (0, 0, 5, 0), (
                    job
                )

        assert await count(app, AuditEntry) == audits
        got = await client.get(f"/enterprises/{created.json()['id']}", headers=identity(settings, PERSONNEL))
        record = got.json()
        assert record["version"] == 1 and record["principal_phone"] == "13700001111"
        assert record["revenue_wan_yuan"] == 1234.5678 and len(record["sites"]) == 1
        licence = next(c for c in record["certificates"] if c["kind"] == "production_licence")
        assert (licence["category_code"], licence["valid_from"]) == ("gas_hose", "2023-01-01")


async def test_jurisdiction_on_import_job_and_export(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        ours = [sheet_row(make_uscc(n)) for n in range(1, 4)]
        job = (await upload(client, settings, WENSHUI, as_csv(ours), "文水.csv")).json()
        theirs = [
            sheet_row(make_uscc(9, "141122"), 注册地行政区划代码="141122"),
            # 文水's unit claimed for 交城: refused, not moved.
            sheet_row(make_uscc(1), 注册地行政区划代码="141122", 单位名称="被改名的单位"),
        ]
        response = await upload(client, settings, JIAOCHENG, as_csv(theirs), "交城.csv")
        other = response.json()
        assert (other["created"], other["rejected"]) == (1, 1)
        assert [(e["row"], e["code"]) for e in other["errors"]] == [(3, "IMPORT_UNIT_OUT_OF_JURISDICTION")]
        units = await units_by_uscc(app)
        assert units[make_uscc(1)].region_code == "141121" and units[make_uscc(1)].version == 1

        for path in (
            f"/imports/{job['id']}",
            f"/imports/{job['id']}/errors.csv",
            f"/imports/{job['id']}/errors.xlsx",
        ):
            hidden = await client.get(path, headers=identity(settings, JIAOCHENG))
            assert hidden.status_code == 404 and hidden.json()["code"] == "IMPORT_JOB_NOT_FOUND"
            assert (await client.get(path, headers=identity(settings, WENSHUI))).status_code == 200

        exported = await client.get(
            "/enterprises/export", params={"format": "csv"}, headers=identity(settings, JIAOCHENG)
        )
        assert [r[0] for r in read_sheet(exported.content, "csv")[1:]] == [make_uscc(9, "141122")]
        province = await client.get(
            "/enterprises/export",
            params={"format": "csv", "region_code": "141121", "kind": "production"},
            headers=identity(settings, SX_PROVINCE),
        )
        assert sorted(r[0] for r in read_sheet(province.content, "csv")[1:]) == [
            make_uscc(n) for n in range(1, 4)
        ]

        for method, path in (("POST", "/enterprises/import"), ("GET", "/enterprises/export")):
            files = {"file": ("a.csv", as_csv(ours))} if method == "POST" else None
            refused = await client.request(
                method, path, files=files, headers=identity(settings, UNIT_ACCOUNT)
            )
            assert refused.status_code == 403 and refused.json()["code"] == "REGULATOR_ONLY"


async def test_a_file_without_required_columns_is_refused_and_headers_are_matched_loosely(
    settings: Settings,
) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        header = [h for h in HEADERS if h not in ("单位类型", "录入原因")]
        row = [v for h, v in zip(HEADERS, sheet_row(make_uscc(1)), strict=True) if h in header]
        refused = await upload(client, settings, WENSHUI, as_csv([row], header=header), "缺列.csv")
        assert refused.status_code == 422
        assert refused.json()["code"] == "IMPORT_COLUMNS_MISSING"
        assert refused.json()["missing"] == ["单位类型", "录入原因"]

        loose = [f" {h.replace('（', '(').replace('）', ')')} " for h in HEADERS]
        rows = [sheet_row(make_uscc(2), 单位类型="销售单位", 销售渠道="零售", 录入原因="survey")]
        accepted = await upload(
            client, settings, WENSHUI, as_csv(rows, header=loose, encoding="gb18030"), "宽松.csv"
        )
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["created"] == 1, accepted.json()
        unit = (await units_by_uscc(app))[make_uscc(2)]
        assert (unit.kind, unit.sales_channel, unit.entry_reason) == ("sales", "retail", "survey")

        junk = await upload(client, settings, WENSHUI, b"PK\x03\x04 not really a workbook", "坏.xlsx")
        assert junk.status_code == 422 and junk.json()["code"] == "IMPORT_FILE_UNREADABLE"
        word = await upload(client, settings, WENSHUI, b"hello", "说明.docx")
        assert word.status_code == 422 and word.json()["code"] == "IMPORT_FILE_TYPE_UNSUPPORTED"


async def test_columns_left_out_of_the_sheet_keep_what_is_stored(settings: Settings) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        body = enterprise_body(
            make_uscc(30),
            principal_phone="13600002222",
            product_categories=["gas_stove"],
            certificates=[{"kind": "ccc", "number": "2024010301000030", "valid_until": "2029-01-01"}],
        )
        created = await client.post("/enterprises", json=body, headers=identity(settings, WENSHUI))
        assert created.status_code == 201, created.text
        header = [
            "统一社会信用代码",
            "单位名称",
            "单位类型",
            "注册地行政区划代码",
            "从业人员（人）",
            "营业收入（万元）",
            "录入原因",
            "产品类别",
            "生产许可证有效期至",
        ]
        row = [make_uscc(30), body["name"], "生产", "141121", 25, 1500, "监督抽查", "电动自行车", ""]
        job = (await upload(client, settings, WENSHUI, as_csv([row], header=header), "部分列.csv")).json()
        assert (job["updated"], job["rejected"]) == (1, 0), job
        record = (
            await client.get(f"/enterprises/{created.json()['id']}", headers=identity(settings, PERSONNEL))
        ).json()
        assert record["product_categories"] == ["electric_bicycle"]  # the column given: changed
        assert record["principal_phone"] == "13600002222"  # the columns left out: as stored
        assert [(c["kind"], c["number"]) for c in record["certificates"]] == [("ccc", "2024010301000030")]
        history = await client.get(
            f"/enterprises/{record['id']}/history", headers=identity(settings, WENSHUI)
        )
        assert history.json()["items"][-1]["changes"] == {
            "product_categories": [["gas_stove"], ["electric_bicycle"]]
        }


@pytest.mark.parametrize(
    ("encoding", "name"),
    [
        ("utf-8", "文水县𠮷祥阀门有限公司"),  # no BOM
        ("utf-8-sig", "文水县𠮷祥阀门有限公司"),  # Excel's "CSV UTF-8"
        ("gbk", "文水县吉祥阀门有限公司"),  # Excel's "CSV" on a Chinese Windows
        ("gb18030", "文水县𠮷祥阀门有限公司"),  # 𠮷 is outside GBK: four bytes in GB18030
    ],
)
async def test_a_csv_in_utf8_gbk_or_gb18030_imports_the_same_text(
    settings: Settings, encoding: str, name: str
) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        rows = [sheet_row(make_uscc(1), 单位名称=name, 注册地址="文水县凤城镇（东区）")]
        accepted = await upload(client, settings, WENSHUI, as_csv(rows, encoding=encoding), "台账.csv")
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["created"] == 1, accepted.json()
        unit = (await units_by_uscc(app))[make_uscc(1)]
        assert (unit.name, unit.registered_address) == (name, "文水县凤城镇（东区）")


async def test_a_csv_in_neither_encoding_is_refused_naming_its_line_without_the_codecs_words(
    settings: Settings,
) -> None:
    async with serving(create_app(settings)) as client:
        good = as_csv([sheet_row(make_uscc(1)), sheet_row(make_uscc(2))], encoding="gbk")
        refused = await upload(client, settings, WENSHUI, good + b"\x81\xff,\x00\xfe\n", "台账.csv")
        assert refused.status_code == 422 and refused.json()["code"] == "IMPORT_FILE_UNREADABLE"
        detail = refused.json()["detail"]
        assert "GB18030" in detail and "UTF-8" in detail and "第 4 行" in detail, detail
        assert "codec" not in detail and "0x" not in detail and "decode" not in detail
