"""监管任务清单 as data: the templates are the seeds' word for word; a unit's checklist adds its own key risk
points, learnt from registry's events over real NATS, and is shown only within the caller's jurisdiction."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from services.common.auth import Caller
from services.common.events import (
    ENTERPRISE_REGISTERED,
    RISK_CONTROL_LIST_ADOPTED,
    EnterpriseRegistered,
    RiskControlListAdopted,
    RiskPoint,
    make_event,
)
from services.common.settings import Settings
from services.inspection import checklists
from services.inspection.app import create_app
from services.inspection.checklists import (
    NO_RISK_LIST_TEXT,
    EnterpriseKindUnknown,
    TemplateError,
    build_checklist,
    checklist_for,
    load_templates,
)
from services.inspection.models import KnownEnterprise
from tests.harness import (
    JIAOCHENG,
    SX_PROVINCE,
    WENSHUI,
    eventually,
    identity,
    make_uscc,
    publish_events,
    serving,
)

# ------------------------------------------------------------------------------ the seeds, copied by hand
# Seed 003 (上海市宝山区) 附件3 and 附件4, item by item as printed (line wraps joined). Seed 002 (南京) prints
# the same items, each ending with 。; its section titles are listed where they differ.

PRODUCTION = {
    "1.1": "建立产品质量安全管理制度",
    "1.2": "配备质量安全总监和质量安全员",
    "1.3": "制定《质量安全总监职责》《质量安全员守则》",
    "1.4": "制定《工业产品质量安全风险管控清单》",
    "1.5": "建立日管控、周排查、月调度工作制度",
    "1.6": "建立健全原材料检查验收制度、产品出厂检验制度、生产全过程控制体系（食品相关产品）制度",
    "2.1": "检查《每日工业产品质量安全检查记录》",
    "2.2": "检查《每周工业产品质量安全排查治理报告》",
    "2.3": "检查《每月工业产品质量安全调度会议纪要》",
    "2.4": "检查在日管控、周排查、月调度中发现的质量安全风险隐患整改情况",
    "2.5": "检查质量安全总监和质量安全员培训考核情况",
    "3.1": "检查生产许可、强制性产品认证证书标注的内容是否与实际一致；是否具备满足生产检验所需的工作场所和设施",
    "3.2": "检查是否存在超出生产许可范围生产、未经 CCC 认证出厂销售的行为",
    "3.3": "对原材料、零部件等进货产品属于生产许可或 CCC 认证范围的，检查是否查验相应证书及其有效性",
    "3.4": "检查有无委托加工行为；是否符合委托加工有关规定，发生重大变化，是否按规定办理手续",
    "3.5": "是否按要求开展并公示年度自查；年度自查报告内容是否与实际情况相符",
    "4.1": "抽查进货查验、生产全过程控制（食品相关产品）、入库验收、出厂检验等信息记录情况",
    "4.2": "抽查包装或说明书上标明执行标准情况",
    "4.3": "抽查产品包装标识",
    "5.1": "检查配合市场监管部门组织开展的产品质量安全监管工作情况",
    "5.2": "检查产品质量安全问题整改落实情况",
}
PRODUCTION_SECTIONS = {
    "1": "建立安全管理体系",
    "2": "抓好常态化监管",
    "3": "检查生产许可和强制性产品认证情况",
    "4": "检查生产单位义务履行情况",
    "5": "检查生产单位配合质量安全监管情况",
    "6": "与生产单位明确的关键风险点和风险管控事项",
}
SALES = {
    "1.1": "建立产品质量安全管理制度",
    "1.2": "配备质量安全总监和质量安全员",
    "1.3": "制定《质量安全总监职责》《质量安全员守则》",
    "1.4": "制定《工业产品质量安全风险管控清单》",
    "1.5": "建立日管控、周排查、月调度工作制度",
    "1.6": "建立健全进货检查验收制度",
    "2.1": "检查《每日工业产品质量安全检查记录》",
    "2.2": "检查《每周工业产品质量安全排查治理报告》",
    "2.3": "检查《每月工业产品质量安全调度会议纪要》",
    "2.4": "检查在日管控、周排查、月调度中发现的质量安全风险隐患整改情况",
    "2.5": "检查质量安全总监和质量安全员培训考核情况",
    "3.1": "抽查进货查验、入库验收等信息记录情况",
    "3.2": "抽查产品包装标识",
    "3.3": "对进货价格明显低于市场正常价格等异常情况或产品难以追溯到源头的，是否列入风险清单并主动排查和报告属地监管部门",
    "3.4": "进货产品属于生产许可或 CCC 认证范围的，是否查验证书，是否存在应获生产许可或 CCC 认证，实际未获证的情况。",
    "4.1": "检查配合市场监管部门组织开展的产品质量安全监管工作情况",
    "4.2": "检查产品质量安全问题整改落实情况",
}
SALES_SECTIONS = {
    "1": "建立安全管理体系",
    "2": "抓好常态化监管",
    "3": "检查销售单位义务履行情况",
    "4": "检查销售单位配合质量安全监管情况",
    "5": "与销售单位明确的关键风险点和风险管控事项",
}
# 南京's own section titles of the sales template (附件3), "销售位" as printed.
SALES_SECTIONS_NANJING = {
    **SALES_SECTIONS,
    "1": "指导督促建立安全管理体系",
    "2": "抓好常态化监督检查",
    "5": "与销售位明确的关键风险点和风险管控事项",
}
OVERSIGHT = {
    "1.1": "组织开展法律法规政策文件宣贯落实。",
    "1.2": "加强组织保障，组建工作专班有效运转",
    "2.1": "建设和使用工业产品质量安全主体责任信息平台",
    "2.2": "对工业产品质量安全主体责任信息平台进行动态更新",
    "2.3": "将工业产品质量安全主体责任信息平台信息逐级按要求进行归集和汇总",
    "3.1": "建立本层级对应主体清单",
    "3.2": "按清单落实相应监督检查任务",
    "4.1": "建立监督检查任务清单，组织监管任务落实",
    "4.2": "监督检查任务清单全面、完整、准确，建立关键风险点和重点风险管控子项",
    "4.3": "组织对本辖区的质量安全总监、质量安全员随机进行监督抽查考核并公布结果",
    "5.1": "建立督查清单，按要求组织开展调研督查",
    "5.2": "将督查工作数据信息归集到监管督查信息平台",
    "6.1": "督促指导生产销售单位建立健全产品质量安全管理制度",
    "6.2": "抽查企业产品质量安全管理制度建立及质量安全总监、质量安全员配备情况",
    "7.1": "按要求将数据信息归集到监管督查信息平台",
    "7.2": "完成监管督查信息平台工作任务",
    "7.3": "制定督查计划，对下级市场监管部门开展督查",
}
OVERSIGHT_SECTIONS = {
    "1": "法律法规政策文件贯彻落实情况",
    "2": "工业产品质量安全主体责任信息平台建设情况",
    "3": "分层分级责任清单建立及执行情况",
    "4": "监督检查任务清单建立及落实情况",
    "5": "督查清单建立及督查情况",
    "6": "生产销售单位产品质量安全管理制度建立及运行情况",
    "7": "监管督查信息平台落实情况",
}


def nanjing(items: dict[str, str]) -> dict[str, str]:
    """Seed 002 prints every item with a closing 。."""
    return {key: text.rstrip("。") + "。" for key, text in items.items()}


EXPECTED = {
    # name: (seed file, items, section titles, risk-point section)
    "production-shanghai": ("003_4457a5bf32009683.txt", PRODUCTION, PRODUCTION_SECTIONS, "6"),
    "sales-shanghai": ("003_4457a5bf32009683.txt", SALES, SALES_SECTIONS, "5"),
    "oversight-shanghai": ("003_4457a5bf32009683.txt", OVERSIGHT, OVERSIGHT_SECTIONS, None),
    "production-jiangsu": ("002_f57ee9d9c1811542.txt", nanjing(PRODUCTION), PRODUCTION_SECTIONS, "6"),
    "sales-jiangsu": ("002_f57ee9d9c1811542.txt", nanjing(SALES), SALES_SECTIONS_NANJING, "5"),
    "oversight-jiangsu": ("002_f57ee9d9c1811542.txt", nanjing(OVERSIGHT), OVERSIGHT_SECTIONS, None),
}


def test_every_template_is_its_seed_item_for_item() -> None:
    shipped = checklists.templates().by_name
    assert sorted(shipped) == sorted(EXPECTED)
    for name, (seed, items, sections, risk) in EXPECTED.items():
        template = shipped[name]
        assert template.source.seed == seed, name
        assert {s.id: s.title for s in template.sections} == sections, name
        assert {i["id"]: i["text"] for i in template.fixed_items()} == items, name
        assert [i["id"] for i in template.fixed_items()] == list(items), name  # in the seed's order
        assert (template.risk_section.id if template.risk_section else None) == risk, name
    # The outline: production 1.1–1.6, 2.1–2.5, 3.1–3.5, 4.1–4.3, 5.1–5.2, then 6; sales 1.1–1.6,
    # 2.1–2.5, 3.1–3.4, 4.1–4.2, then 5; oversight 1.1–7.3.
    counts = {
        "production": [6, 5, 5, 3, 2, 0],
        "sales": [6, 5, 4, 2, 0],
        "oversight": [2, 3, 2, 3, 2, 2, 3],
    }
    for template in shipped.values():
        assert [len(s.items) for s in template.sections] == counts[template.kind], template.name
    assert shipped["production-shanghai"].risk_section.guidance == (  # type: ignore[union-attr]
        "结合生产单位自身特点，由生产单位列出影响质量安全的关键风险点，或由属地市场监管部门明确的质量安全风险管控事项"
    )
    assert shipped["sales-jiangsu"].risk_section.guidance.endswith(  # type: ignore[union-attr]
        "如，得知销售产品可能是假冒伪劣，是否主动停止销售或及时报告属地监管部门。"
    )
    assert shipped["oversight-jiangsu"].result_columns == ["是否落实", "亮点成效"]
    assert shipped["production-jiangsu"].result_columns == ["结果", "备注"]


# ---------------------------------------------------------------------- the seeds themselves, when present

SEEDS = Path(os.environ.get("QSR_SEEDS_DIR", "/work/shared/seeds"))
_ITEM = re.compile(r"^(\d)\.(\d)\s+(.*)$")
_SECTION = re.compile(r"^(\d)(?:\s+(\D.*))?$")


def _squash(text: str) -> str:
    """Line wraps and the typesetting's spaces between Chinese characters are layout, not text."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"(?<=[^\x00-\x7f]) (?=[^\x00-\x7f])", "", text)
    return re.sub(r"(?<=[A-Za-z])(?=[^\x00-\x7f])|(?<=[^\x00-\x7f])(?=[A-Za-z])", " ", text)


def _parse(lines: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(section titles, items) of one attachment's table as the seed text prints it."""
    titles: dict[str, str] = {}
    items: dict[str, str] = {}
    mode, key = "skip", ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if item := _ITEM.match(line):
            key, mode = f"{item[1]}.{item[2]}", "item"
            items[key] = item[3]
        elif section := _SECTION.match(line):
            key, mode = section[1], "title"
            titles[key] = section[2] or ""
        elif line.startswith(("说明", "序号", "—", "附件")) or line.endswith("印发"):
            mode = "skip"
        elif mode == "item":
            items[key] += line
        elif mode == "title" and line.startswith("结合"):
            mode = "skip"  # the risk-point section's guidance
        elif mode == "title":
            titles[key] += line
    return {k: _squash(v) for k, v in titles.items()}, {k: _squash(v) for k, v in items.items()}


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed texts are not on this machine")
def test_the_templates_are_what_the_seed_files_print() -> None:
    for template in checklists.templates().by_name.values():
        lines = (SEEDS / template.source.seed).read_text(encoding="utf-8").splitlines()
        assert template.source.lines is not None
        first, last = (int(n) for n in template.source.lines.split("-"))
        titles, items = _parse(lines[first - 1 : last])
        assert {s.id: s.title for s in template.sections} == titles, template.name
        assert {i["id"]: i["text"] for i in template.fixed_items()} == items, template.name


# ------------------------------------------------------------------------------------------- loading


def _copy_templates(tmp_path: Path) -> Path:
    for path in checklists.DATA_DIR.glob(checklists.FILE_PATTERN):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_a_broken_template_file_is_refused_by_name(tmp_path: Path) -> None:
    directory = _copy_templates(tmp_path)
    assert sorted(load_templates(directory).by_name) == sorted(EXPECTED)

    broken = directory / "checklist_sales_shanghai.yaml"
    text = broken.read_text(encoding="utf-8")
    broken.write_text(text.replace('id: "1.2"', 'id: "1.3"', 1), encoding="utf-8")
    with pytest.raises(TemplateError, match=r"checklist_sales_shanghai\.yaml.*1\.1, 1\.2"):
        load_templates(directory)

    broken.write_text(text.replace("sections:", "sections: [", 1), encoding="utf-8")
    with pytest.raises(TemplateError, match=r"checklist_sales_shanghai\.yaml：YAML"):
        load_templates(directory)

    broken.write_text(text.replace('version: "2024.1"\n', ""), encoding="utf-8")
    with pytest.raises(TemplateError, match=r"checklist_sales_shanghai\.yaml：version"):
        load_templates(directory)

    broken.write_text(text.replace("risk_points: true", "risk_points: false"), encoding="utf-8")
    with pytest.raises(TemplateError, match=r"checklist_sales_shanghai\.yaml"):
        load_templates(directory)

    broken.write_text(text, encoding="utf-8")
    (directory / "checklist_sales_copy.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(TemplateError, match=r"checklist_sales_shanghai\.yaml.*sales-shanghai"):
        load_templates(directory)


# ------------------------------------------------------------------------------------------- one unit


def test_build_checklist_adds_the_units_own_risk_points() -> None:
    points = [
        {"point": "原材料（钢材）进货验收", "controls": "每批查验材质证明并抽检"},
        {"point": "出厂耐压试验", "controls": ""},
        {"point": "  "},  # a blank point is no point
    ]
    name, version, items = build_checklist("production", points, region_code="141121")
    assert (name, version) == ("production-shanghai", "2024.1")
    assert [i["id"] for i in items] == [*PRODUCTION, "6.1", "6.2"]
    assert {i["id"]: i["text"] for i in items[:-2]} == PRODUCTION
    assert items[-2:] == [
        {
            "id": "6.1",
            "section": "与生产单位明确的关键风险点和风险管控事项",
            "text": "原材料（钢材）进货验收（管控措施：每批查验材质证明并抽检）",
        },
        {"id": "6.2", "section": "与生产单位明确的关键风险点和风险管控事项", "text": "出厂耐压试验"},
    ]
    assert items[0] == {"id": "1.1", "section": "建立安全管理体系", "text": "建立产品质量安全管理制度"}
    assert all(set(item) == {"id", "section", "text"} for item in items)


def test_build_checklist_without_risk_points_asks_for_the_missing_list() -> None:
    name, _, items = build_checklist("sales", [])
    assert name == "sales-shanghai"
    assert [i["id"] for i in items] == [*SALES, "5.1"]
    assert items[-1] == {
        "id": "5.1",
        "section": "与销售单位明确的关键风险点和风险管控事项",
        "text": NO_RISK_LIST_TEXT,
    }
    assert "风险管控清单" in NO_RISK_LIST_TEXT and "否（×）" in NO_RISK_LIST_TEXT


def test_the_template_follows_the_units_kind_and_province() -> None:
    assert build_checklist("sales", [], region_code="320102")[0] == "sales-jiangsu"
    assert build_checklist("production", [], region_code="310113")[0] == "production-shanghai"
    assert build_checklist("production", [], region_code="141121")[0] == "production-shanghai"
    jiangsu = build_checklist("production", [{"point": "X"}], region_code="320100")[2]
    assert jiangsu[0]["text"] == "建立产品质量安全管理制度。" and jiangsu[-1]["id"] == "6.1"
    # A producer that also sells (wholesale) is inspected as a producer.
    unit = KnownEnterprise(
        id="u", region_code="141121", name="n", kind="production", sales_channel="wholesale", risk_points="[]"
    )
    assert checklist_for(unit)[0] == "production-shanghai"
    with pytest.raises(EnterpriseKindUnknown):
        build_checklist("unknown", [])


# ------------------------------------------------------------------------------------ through the API

LVLIANG = Caller(username="lvliang", role="regulator", region_code="141100")


def registered(
    serial: int, kind: str = "production", sales_channel: str | None = None
) -> EnterpriseRegistered:
    return EnterpriseRegistered(
        enterprise_id=f"unit-{serial}",
        uscc=make_uscc(serial),
        name=f"文水县示范单位{serial}",
        kind=kind,  # type: ignore[arg-type]
        sales_channel=sales_channel,  # type: ignore[arg-type]
        region_code="141121",
        employees=25,
        revenue_wan_yuan=1500,
        entry_reason="spot_check",
        operating_status="normal",
    )


@pytest_asyncio.fixture
async def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest_asyncio.fixture
async def inspection(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(app) as client:
        yield client


@pytest.mark.asyncio
async def test_a_units_checklist_after_registry_announces_it_and_its_risk_list(
    settings: Settings, inspection: httpx.AsyncClient
) -> None:
    producer, seller = registered(31, sales_channel="retail"), registered(32, "sales", "wholesale")
    await publish_events(
        settings,
        *(
            make_event(ENTERPRISE_REGISTERED, unit, region="141121", enterprise_id=unit.enterprise_id)
            for unit in (producer, seller)
        ),
    )
    headers = identity(settings, WENSHUI)

    async def checklist_of(unit: str) -> dict:
        response = await inspection.get(f"/enterprises/{unit}/checklist", headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    before = await eventually(lambda: checklist_of("unit-31"))
    assert (before["template"], before["template_version"], before["kind"]) == (
        "production-shanghai",
        "2024.1",
        "production",
    )
    assert before["enterprise_name"] == "文水县示范单位31"
    assert before["result_columns"] == ["结果", "备注"]
    assert before["items"][-1] == {
        "id": "6.1",
        "section": "与生产单位明确的关键风险点和风险管控事项",
        "text": NO_RISK_LIST_TEXT,
    }
    sales = await eventually(lambda: checklist_of("unit-32"))
    assert sales["template"] == "sales-shanghai" and [i["id"] for i in sales["items"]] == [*SALES, "5.1"]

    adopted = RiskControlListAdopted(
        enterprise_id="unit-31",
        version=1,
        adopted_on=date.today(),
        points=[
            RiskPoint(point="电动自行车蓄电池进货验收", controls="核对 CCC 证书，每批抽检"),
            RiskPoint(point="整车出厂制动性能检验"),
        ],
    )
    await publish_events(
        settings, make_event(RISK_CONTROL_LIST_ADOPTED, adopted, region="141121", enterprise_id="unit-31")
    )

    async def with_points() -> dict:
        body = await checklist_of("unit-31")
        assert body["items"][-1]["id"] == "6.2", body["items"][-1]
        return body

    after = await eventually(with_points)
    assert [i["id"] for i in after["items"]] == [*PRODUCTION, "6.1", "6.2"]
    assert [i["text"] for i in after["items"][-2:]] == [
        "电动自行车蓄电池进货验收（管控措施：核对 CCC 证书，每批抽检）",
        "整车出厂制动性能检验",
    ]

    # Jurisdiction: the neighbour county sees no such unit; the city and province above do; a unit's own
    # account sees its own checklist and no other.
    neighbour = await inspection.get("/enterprises/unit-31/checklist", headers=identity(settings, JIAOCHENG))
    assert (neighbour.status_code, neighbour.json()["code"]) == (404, "ENTERPRISE_NOT_FOUND")
    for upper in (LVLIANG, SX_PROVINCE):
        response = await inspection.get("/enterprises/unit-31/checklist", headers=identity(settings, upper))
        assert response.status_code == 200 and response.json()["items"] == after["items"]
    own = Caller(username="u31", role="enterprise", region_code="141121", uscc=make_uscc(31))
    assert (
        await inspection.get("/enterprises/unit-31/checklist", headers=identity(settings, own))
    ).status_code == 200
    assert (
        await inspection.get("/enterprises/unit-32/checklist", headers=identity(settings, own))
    ).status_code == 404
    assert (await inspection.get("/enterprises/nobody/checklist", headers=headers)).status_code == 404
    assert (await inspection.get("/enterprises/unit-31/checklist")).status_code == 401


@pytest.mark.asyncio
async def test_a_unit_known_only_from_grading_has_no_checklist_yet(
    settings: Settings, app: FastAPI, inspection: httpx.AsyncClient
) -> None:
    async with app.state.db.transaction() as session:
        session.add(KnownEnterprise(id="unit-40", region_code="141121", name="", kind="unknown"))
    response = await inspection.get("/enterprises/unit-40/checklist", headers=identity(settings, WENSHUI))
    assert (response.status_code, response.json()["code"]) == (409, "ENTERPRISE_KIND_UNKNOWN")
    hidden = await inspection.get("/enterprises/unit-40/checklist", headers=identity(settings, JIAOCHENG))
    assert hidden.status_code == 404


@pytest.mark.asyncio
async def test_templates_and_their_versions_are_listed(
    settings: Settings, inspection: httpx.AsyncClient
) -> None:
    headers = identity(settings, JIAOCHENG)
    listed = await inspection.get("/checklists", headers=headers)
    assert listed.status_code == 200
    by_name = {t["name"]: t for t in listed.json()}
    assert sorted(by_name) == sorted(EXPECTED)
    assert by_name["production-shanghai"]["version"] == "2024.1" and by_name["production-shanghai"]["default"]
    assert by_name["sales-jiangsu"]["version"] == "2023.1" and by_name["sales-jiangsu"]["provinces"] == [
        "320000"
    ]
    assert by_name["oversight-jiangsu"]["source"]["attachment"].startswith("附件4")
    assert by_name["production-jiangsu"]["items"] == 21 and by_name["oversight-shanghai"]["items"] == 17
    only_sales = (await inspection.get("/checklists", params={"kind": "sales"}, headers=headers)).json()
    assert sorted(t["name"] for t in only_sales) == ["sales-jiangsu", "sales-shanghai"]

    detail = await inspection.get("/checklists/sales-jiangsu", headers=headers)
    assert detail.status_code == 200
    body = detail.json()
    assert {s["id"]: s["title"] for s in body["sections"]} == SALES_SECTIONS_NANJING
    assert {i["id"]: i["text"] for s in body["sections"] for i in s["items"]} == nanjing(SALES)
    assert body["sections"][-1]["risk_points"] is True and body["sections"][-1]["items"] == []

    missing = await inspection.get("/checklists/no-such-template", headers=headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "CHECKLIST_TEMPLATE_NOT_FOUND")
    assert (await inspection.get("/checklists")).status_code == 401
