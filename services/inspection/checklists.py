"""监管任务清单 and 督查清单 as data: the templates of seed 002 (南京, 附件2–4) and seed 003 (宝山, 附件3–4),
one YAML file each in ``data/checklist_*.yaml``, and the checklist of one unit (its template plus its own key
risk points from its 质量安全风险管控清单).

A template applies by kind (a producer that also sells is inspected as a producer) and by province: each file
names the provinces it governs, and the one marked ``default`` serves every other province.
"""

from __future__ import annotations

import json
import re
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.common.app import ArrivalsDep, DbDep
from services.common.arrivals import known_unit
from services.common.auth import CallerDep
from services.common.errors import Conflict, NotFound
from services.inspection import repository
from services.inspection.models import KnownEnterprise

DATA_DIR = Path(__file__).parent / "data"
FILE_PATTERN = "checklist_*.yaml"

TemplateKind = Literal["production", "sales", "oversight"]

#: The one item of the risk-point section when registry has announced no 风险管控清单 for the unit: the
#: inspector checks on site and marks it ✗ when the unit indeed has none.
NO_RISK_LIST_TEXT = (
    "单位已制定《工业产品质量安全风险管控清单》，列明关键风险点和风险管控事项"
    "（平台尚未收到该单位的风险管控清单，请现场核实；未制定的在结果栏填写否（×））"
)


class TemplateError(ValueError):
    """A template file that cannot be used; the message names the file."""


class TemplateItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    text: str = Field(min_length=1)


class TemplateSection(BaseModel):
    """One 重点工作/督查事项 of a template; the risk-point section holds the unit's own points instead of items."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str = Field(min_length=1)
    items: list[TemplateItem] = Field(default_factory=list)
    risk_points: bool = False
    guidance: str = ""

    @model_validator(mode="after")
    def _numbered(self) -> TemplateSection:
        if self.risk_points:
            if self.items or not self.guidance:
                raise ValueError(f"风险点一节（{self.id}）不列条目，须有 guidance（填写说明）")
            return self
        if not self.items:
            raise ValueError(f"第 {self.id} 项没有具体任务")
        expected = [f"{self.id}.{n}" for n in range(1, len(self.items) + 1)]
        if [item.id for item in self.items] != expected:
            raise ValueError(f"第 {self.id} 项的条目编号须依次为 {', '.join(expected)}")
        return self


class TemplateSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: str
    attachment: str
    lines: str | None = None
    document: str


class Template(BaseModel):
    """One checklist template, versioned; its items are the seed's, word for word."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z]+(-[a-z0-9]+)*$", max_length=50)
    kind: TemplateKind
    title: str
    version: str = Field(min_length=1, max_length=20)
    issued_on: date | None = None
    provinces: list[str] = Field(default_factory=list)
    default: bool = False
    source: TemplateSource
    result_columns: list[str]
    notes: list[str] = Field(default_factory=list)
    sections: list[TemplateSection]

    @model_validator(mode="after")
    def _shape(self) -> Template:
        if [s.id for s in self.sections] != [str(n) for n in range(1, len(self.sections) + 1)]:
            raise ValueError("各项编号须从 1 起依次排列")
        for code in self.provinces:
            if not re.fullmatch(r"\d{2}0000", code):
                raise ValueError(f"provinces 须为省级区划代码（XX0000），{code!r} 不是")
        if not self.default and not self.provinces:
            raise ValueError("须列出适用省份（provinces）或标为默认模板（default: true）")
        risk = [s for s in self.sections if s.risk_points]
        if self.kind == "oversight":
            if risk:
                raise ValueError("督查清单没有风险点一节")
        elif len(risk) != 1 or risk[0] is not self.sections[-1]:
            raise ValueError("监管任务清单的最后一节须是单位的关键风险点（risk_points: true），且只有一节")
        return self

    @property
    def risk_section(self) -> TemplateSection | None:
        return next((s for s in self.sections if s.risk_points), None)

    def fixed_items(self) -> list[dict[str, str]]:
        """The template's own items, in order, as ``{"id", "section", "text"}``."""
        return [
            {"id": item.id, "section": section.title, "text": item.text}
            for section in self.sections
            for item in section.items
        ]


class TemplateSet:
    """Every template in force, by name, and the one that applies to a kind in a province."""

    def __init__(self, templates: dict[str, Template]) -> None:
        self.by_name = templates
        self._default: dict[str, Template] = {}
        self._by_province: dict[tuple[str, str], Template] = {}
        for template in templates.values():
            if template.default:
                if template.kind in self._default:
                    raise TemplateError(
                        f"{template.kind} 类有两个默认模板：{self._default[template.kind].name}、{template.name}"
                    )
                self._default[template.kind] = template
            for province in template.provinces:
                other = self._by_province.setdefault((template.kind, province), template)
                if other is not template:
                    raise TemplateError(
                        f"{province} 的 {template.kind} 模板重复：{other.name}、{template.name}"
                    )
        missing = {"production", "sales", "oversight"} - set(self._default)
        if missing:
            raise TemplateError(f"缺少默认模板（default: true）：{', '.join(sorted(missing))}")

    def applicable(self, kind: str, region_code: str | None = None) -> Template:
        """The template of ``kind`` for a region (its province's, else the default)."""
        if region_code:
            found = self._by_province.get((kind, region_code[:2] + "0000"))
            if found is not None:
                return found
        return self._default[kind]


def load_templates(directory: Path = DATA_DIR) -> TemplateSet:
    """Read and validate every ``checklist_*.yaml``; TemplateError names the file of the first fault."""
    files = sorted(directory.glob(FILE_PATTERN))
    if not files:
        raise TemplateError(f"{directory} 中没有检查清单模板（{FILE_PATTERN}）")
    templates: dict[str, Template] = {}
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise TemplateError(f"{path.name}：YAML 格式错误（{exc}）") from exc
        try:
            template = Template.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(文件)"
            raise TemplateError(f"{path.name}：{where}：{first['msg']}") from exc
        if template.name in templates:
            raise TemplateError(f"{path.name}：模板名 {template.name!r} 已被另一文件使用")
        templates[template.name] = template
    return TemplateSet(templates)


@cache
def templates() -> TemplateSet:
    """The shipped templates, read once on first use."""
    return load_templates()


class EnterpriseKindUnknown(Conflict):
    code, title = (
        "ENTERPRISE_KIND_UNKNOWN",
        "尚未收到该单位的登记信息（生产/销售单位类别），暂无法生成监管任务清单",
    )


def _risk_text(point: dict[str, Any]) -> str:
    text = str(point.get("point", "")).strip()
    controls = str(point.get("controls", "") or "").strip()
    return f"{text}（管控措施：{controls}）" if controls else text


def build_checklist(
    kind: str, risk_points: list[dict], *, region_code: str | None = None
) -> tuple[str, str, list[dict]]:
    """The checklist of one unit: (template name, template version, items). Each item is
    ``{"id": "1.1", "section": "...", "text": "..."}``; the unit's own risk points (``{"point", "controls"}``)
    are added under the template's risk-point section (production 6.x, sales 5.x), or, when it has none,
    one item asking whether it has adopted a 风险管控清单 at all.

    ``kind`` is the unit's kind: a producer that also sells (``sales_channel`` set) is a producer and gets
    the production template. ``region_code`` picks its province's template (else the default one)."""
    if kind not in ("production", "sales"):
        raise EnterpriseKindUnknown(f"单位类别为 {kind!r}，须为生产单位或销售单位")
    template = templates().applicable(kind, region_code)
    items = template.fixed_items()
    risk = template.risk_section
    assert risk is not None  # checked when the template was loaded
    texts = [_risk_text(p) for p in risk_points if str(p.get("point", "")).strip()]
    for n, text in enumerate(texts or [NO_RISK_LIST_TEXT], start=1):
        items.append({"id": f"{risk.id}.{n}", "section": risk.title, "text": text})
    return template.name, template.version, items


def checklist_for(unit: KnownEnterprise) -> tuple[str, str, list[dict]]:
    """``build_checklist`` for a unit as inspection knows it (its kind, province and latest risk points)."""
    return build_checklist(unit.kind, json.loads(unit.risk_points or "[]"), region_code=unit.region_code)


# ------------------------------------------------------------------------------------------------------ API

router = APIRouter(tags=["checklists 监管任务清单"])


class ChecklistTemplateNotFound(NotFound):
    code, title = "CHECKLIST_TEMPLATE_NOT_FOUND", "检查清单模板不存在"


class EnterpriseNotFound(NotFound):
    code, title = "ENTERPRISE_NOT_FOUND", "单位不存在、尚未同步或不在您的管辖范围内"


class TemplateSummary(BaseModel):
    name: str
    kind: TemplateKind
    title: str
    version: str
    issued_on: date | None
    provinces: list[str]
    default: bool
    source: TemplateSource
    items: int = Field(description="模板自身的条目数（不含单位的关键风险点）")


class ChecklistItem(BaseModel):
    id: str
    section: str
    text: str


class TemplateDetail(TemplateSummary):
    result_columns: list[str]
    notes: list[str]
    sections: list[TemplateSection]


class EnterpriseChecklist(BaseModel):
    enterprise_id: str
    enterprise_name: str
    kind: str
    template: str
    template_version: str
    title: str
    result_columns: list[str]
    items: list[ChecklistItem]


def _summary(template: Template) -> dict[str, Any]:
    return {
        **template.model_dump(include={"name", "kind", "title", "version", "issued_on", "provinces"}),
        "default": template.default,
        "source": template.source,
        "items": len(template.fixed_items()),
    }


@router.get("/checklists", response_model=list[TemplateSummary], summary="检查清单模板及版本")
async def list_templates(
    caller: CallerDep,
    kind: TemplateKind | None = Query(default=None, description="production/sales/oversight"),
) -> list[TemplateSummary]:
    del caller  # any signed-in caller may read the published templates
    return [
        TemplateSummary.model_validate(_summary(t))
        for t in templates().by_name.values()
        if kind is None or t.kind == kind
    ]


@router.get("/checklists/{name}", response_model=TemplateDetail, summary="检查清单模板的条目")
async def get_template(name: str, caller: CallerDep) -> TemplateDetail:
    del caller
    template = templates().by_name.get(name)
    if template is None:
        raise ChecklistTemplateNotFound(f"没有名为 {name} 的检查清单模板")
    return TemplateDetail.model_validate(
        {
            **_summary(template),
            "result_columns": template.result_columns,
            "notes": template.notes,
            "sections": template.sections,
        }
    )


@router.get(
    "/enterprises/{enterprise_id}/checklist",
    response_model=EnterpriseChecklist,
    summary="单位的监管任务清单（模板＋单位的关键风险点）",
)
async def enterprise_checklist(
    enterprise_id: str, db: DbDep, arrivals: ArrivalsDep, caller: CallerDep
) -> EnterpriseChecklist:
    # The wait's first read is the read: a unit already known costs one statement.
    unit = await known_unit(
        db, arrivals, enterprise_id, lambda s: repository.get_readable_enterprise(s, caller, enterprise_id)
    )
    if unit is None:
        raise EnterpriseNotFound()
    name, version, items = checklist_for(unit)
    template = templates().by_name[name]
    return EnterpriseChecklist.model_validate(
        {
            "enterprise_id": unit.id,
            "enterprise_name": unit.name,
            "kind": unit.kind,
            "template": name,
            "template_version": version,
            "title": template.title,
            "result_columns": template.result_columns,
            "items": items,
        }
    )
