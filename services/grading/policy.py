"""Province policy packs (分层分级分类监管规则): one YAML file per province, validated when it is loaded.

A pack holds everything a province words differently: the size tables and how the two indicators combine,
which level of government supervises each tier, the class rules (what signals, how many, in what window),
escalation to the level above, locking and its half-year visit duty, and the deadlines the province sets.
A broken file is refused with the file name and the line of the offending value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.grading.tiering import TIERS, CombinationRule, Thresholds

PACKS_DIR = Path(__file__).parent / "packs"

#: Every signal kind grading knows, with its Chinese name. Packs may only count these.
SIGNAL_KINDS: dict[str, str] = {
    "spot_check_failed": "监督抽查不合格",
    "penalty": "行政处罚",
    "major_accident": "较大质量安全事故",
    "complaint_verified": "投诉举报经核实",
    "credit_risk": "信用风险分类",
    "summoned": "质量安全管理人员多次考核不合格被约谈",
    "recall": "缺陷产品召回",
}
LEVELS = ("province", "city", "county", "station")
SupervisionClass = Literal["routine", "key", "special"]
CLASS_ORDER: dict[str, int] = {"routine": 0, "key": 1, "special": 2}
CLASS_NAMES = {"routine": "无事不扰（日常监管）", "key": "重点监管", "special": "特别监管"}


class PackError(ValueError):
    """A pack that cannot be used; the message names the file and the line."""


class _At(ValueError):
    """A whole-pack check that failed at a known place, so the error can name that value's line."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SizeTable(_Strict):
    title: str
    employees: tuple[int, int, int]
    revenue_wan_yuan: tuple[float, float, float]

    @field_validator("employees", "revenue_wan_yuan")
    @classmethod
    def _descending(cls, bounds: tuple[float, float, float]) -> tuple[float, float, float]:
        if not bounds[0] > bounds[1] > bounds[2] > 0:
            raise ValueError("A、B、C 级下限须为正数且依次递减")
        return bounds


class Tiers(_Strict):
    combination_rule: CombinationRule
    production: SizeTable
    wholesale: SizeTable
    retail: SizeTable

    def table(self, kind: str, sales_channel: str | None) -> Thresholds:
        if kind == "production":
            name = "production"
        elif kind == "sales" and sales_channel in ("wholesale", "retail"):
            name = sales_channel
        else:
            raise ValueError(f"no size table for kind={kind!r} sales_channel={sales_channel!r}")
        table: SizeTable = getattr(self, name)
        return Thresholds(name, table.title, table.employees, table.revenue_wan_yuan)


class Level(_Strict):
    level: Literal["province", "city", "county", "station"]
    title: str


class Count(_Strict):
    """At least ``at_least`` signals of ``kinds`` within the last ``within_days`` days."""

    kinds: tuple[str, ...] = Field(min_length=1)
    at_least: int = Field(ge=1)
    within_days: int = Field(ge=1)
    heavier_only: bool = False

    @field_validator("kinds")
    @classmethod
    def _known(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in kinds if k not in SIGNAL_KINDS or k == "credit_risk"]
        if unknown:
            raise ValueError(
                f"未知或不可计数的信号类型 {unknown}；可用：{sorted(set(SIGNAL_KINDS) - {'credit_risk'})}"
            )
        return kinds


class Rule(_Strict):
    """One rule: matched by a count of signals, or by the unit's current credit-risk class."""

    id: str = Field(pattern=r"^[a-z0-9_.]+$")
    text: str
    basis: str = Field(description="the seed sentence (or the stated interpretation) the rule comes from")
    count: Count | None = None
    credit: tuple[Literal["A", "B", "C", "D"], ...] | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> Rule:
        if (self.count is None) == (self.credit is None):
            raise ValueError("每条规则须且只能有 count 或 credit 之一")
        return self


class ClassRule(Rule):
    to: Literal["key", "special"]


class Escalation(_Strict):
    rules: tuple[Rule, ...] = ()


class Locking(_Strict):
    #: Units in these classes are locked (建档锁定明确到人).
    classes: tuple[Literal["key", "special"], ...] = ()
    rules: tuple[Rule, ...] = ()
    visit_every_months: int = Field(6, ge=1, le=12)
    basis: str


class Deadlines(_Strict):
    inspector_change_working_days: int = Field(5, ge=1)
    retest_application_days: int = Field(15, ge=1)


class Manual(_Strict):
    max_days: int = Field(366, ge=1)


class Pack(_Strict):
    pack: str = Field(pattern=r"^[a-z0-9-]+$")
    version: str
    title: str
    effective_from: date
    #: Province codes (xx0000) this pack governs; empty for the national default.
    provinces: tuple[str, ...] = ()
    default: bool = False
    sources: tuple[str, ...] = Field(min_length=1)
    tiers: Tiers
    levels: tuple[Level, ...] = Field(min_length=2)
    responsible_level: dict[Literal["A", "B", "C", "D"], Literal["province", "city", "county", "station"]]
    class_rules: tuple[ClassRule, ...] = Field(min_length=1)
    lapse: Literal["automatic", "hold"]
    escalation: Escalation
    locking: Locking
    deadlines: Deadlines = Deadlines()
    manual: Manual = Manual()

    @field_validator("provinces")
    @classmethod
    def _province_codes(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        for code in codes:
            if len(code) != 6 or not code.isdigit() or not code.endswith("0000"):
                raise ValueError(f"{code!r} 不是省级行政区划代码（xx0000）")
        return codes

    @model_validator(mode="after")
    def _consistent(self) -> Pack:
        chain = [level.level for level in self.levels]
        if len(set(chain)) != len(chain) or chain != sorted(chain, key=LEVELS.index):
            raise _At(("levels",), "levels 须自上而下排列且不重复")
        if set(self.responsible_level) != set(TIERS):
            raise _At(("responsible_level",), "responsible_level 须为 A、B、C、D 各指定一个层级")
        for tier, level in self.responsible_level.items():
            if level not in chain:
                raise _At(
                    ("responsible_level", tier), f"responsible_level 用到未在 levels 中列出的层级 {level!r}"
                )
        if self.default == bool(self.provinces):
            raise _At(
                ("provinces" if self.provinces else "default",),
                "全国默认规则（default: true）不列省份；省级规则须列出 provinces",
            )
        seen: set[str] = set()
        for section, rules in (
            (("class_rules",), self.class_rules),
            (("escalation", "rules"), self.escalation.rules),
            (("locking", "rules"), self.locking.rules),
        ):
            for n, rule in enumerate(rules):
                if rule.id in seen:
                    raise _At((*section, n, "id"), f"规则 id {rule.id!r} 重复")
                seen.add(rule.id)
        return self

    def level_title(self, level: str) -> str:
        return next(item.title for item in self.levels if item.level == level)

    def level_above(self, level: str) -> str:
        chain = [item.level for item in self.levels]
        return chain[max(chain.index(level) - 1, 0)]

    def summary(self) -> dict[str, Any]:
        return {"pack": self.pack, "version": self.version, "title": self.title}


# ------------------------------------------------------------------------------------------------ loading


def _line_of(node: yaml.Node, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the value at ``loc`` in the composed YAML tree (the deepest node that exists)."""
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == key), None)
            if found is None:
                break
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
    return node.start_mark.line + 1


@dataclass
class _Source:
    """A pack file as read: its data and, for each top-level key, the file and YAML node it came from."""

    path: Path
    data: dict[str, Any]
    nodes: dict[str, tuple[Path, yaml.Node]]


def _read(path: Path) -> _Source:
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 0
        raise PackError(f"{path.name} 第 {line} 行：YAML 格式错误（{exc.problem}）") from exc
    if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        raise PackError(f"{path.name} 第 1 行：规则文件应为一个映射（mapping）")
    return _Source(path, data, {k.value: (path, v) for k, v in node.value})


def _inherit(source: _Source, sources: dict[str, _Source]) -> _Source:
    """``extends: <pack>``: top-level keys not in the file come from the named pack (never its ``default``)."""
    parent_name = source.data.get("extends")
    if parent_name is None:
        return source
    line = source.nodes["extends"][1].start_mark.line + 1
    parent = sources.get(parent_name)
    if parent is None or parent is source or "extends" in parent.data:
        raise PackError(
            f"{source.path.name} 第 {line} 行：extends 须指向一个不再继承的规则文件，找不到 {parent_name!r}"
        )
    data = {k: v for k, v in parent.data.items() if k != "default"}
    nodes = {k: v for k, v in parent.nodes.items() if k != "default"}
    data.update(source.data)
    nodes.update(source.nodes)
    del data["extends"]
    return _Source(source.path, data, nodes)


def _validate(source: _Source) -> Pack:
    try:
        return Pack.model_validate(source.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, _At):
            loc, first["msg"] = loc + cause.loc, str(cause)
        where = ".".join(str(part) for part in loc) or "(根)"
        path, node = source.nodes.get(str(loc[0]), (source.path, None)) if loc else (source.path, None)
        line = _line_of(node, loc[1:]) if node is not None else 1
        raise PackError(f"{path.name} 第 {line} 行（{where}）：{first['msg']}") from exc


class PackSet:
    """All packs in force; each region code resolves to its province's pack, else the national default."""

    def __init__(self, packs: Iterable[Pack]) -> None:
        self.packs = {pack.pack: pack for pack in packs}
        defaults = [p for p in self.packs.values() if p.default]
        if len(defaults) != 1:
            raise PackError(f"须有且仅有一个全国默认规则（default: true），现有 {len(defaults)} 个")
        self.default = defaults[0]
        self.by_province: dict[str, Pack] = {}
        for pack in self.packs.values():
            for province in pack.provinces:
                if province in self.by_province:
                    raise PackError(
                        f"省份 {province} 同时由 {self.by_province[province].pack} 和 {pack.pack} 规定"
                    )
                self.by_province[province] = pack

    def for_region(self, region_code: str) -> Pack:
        return self.by_province.get(region_code[:2] + "0000", self.default)

    def get(self, name: str) -> Pack | None:
        return self.packs.get(name)


def load_packs(directory: Path = PACKS_DIR) -> PackSet:
    """Every ``*.yaml`` in ``directory``; PackError names the file and line of the first thing wrong."""
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise PackError(f"{directory} 中没有规则文件（*.yaml）")
    sources = [_read(path) for path in files]
    by_name: dict[str, _Source] = {}
    for src in sources:
        name = str(src.data.get("pack", src.path.stem))
        if name in by_name:
            raise PackError(
                f"{src.path.name} 第 {_line_of(src.nodes['pack'][1], ())} 行：规则包名 {name!r} 已由 "
                f"{by_name[name].path.name} 使用"
            )
        by_name[name] = src
    packs = [_validate(_inherit(src, by_name)) for src in sources]
    claimed: dict[str, Path] = {}
    for src, pack in zip(sources, packs, strict=True):
        for n, province in enumerate(pack.provinces):
            if province in claimed:
                line = _line_of(src.nodes["provinces"][1], (n,))
                raise PackError(
                    f"{src.path.name} 第 {line} 行：省份 {province} 已由 {claimed[province].name} 规定"
                )
            claimed[province] = src.path
    return PackSet(packs)
