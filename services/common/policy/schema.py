"""The schema of a province policy pack (分层分级分类监管规则): what a pack may say, checked as it is loaded.

A pack holds everything a province words differently: the size tables and how the two indicators combine,
which level of government supervises each tier, the class rules (what signals, how many, in what window),
escalation to the level above, locking and its half-year visit duty, and the deadlines the province sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class CombinationRule(StrEnum):
    #: 附件1 说明3: a unit meeting several classes takes the highest one any indicator reaches ("或").
    highest = "highest"
    #: 统计上大中小微型企业划分办法: large, medium and small must meet both lower bounds, else drop a class.
    both_indicators = "both_indicators"


@dataclass(frozen=True)
class Thresholds:
    """Lower bounds (inclusive) of tiers A, B, C for employees and for revenue (万元)."""

    table: str
    title: str
    employees: tuple[int, int, int]
    revenue_wan_yuan: tuple[float, float, float]


TIERS = ("A", "B", "C", "D")

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


class BlueprintItem(_Strict):
    """One line of a paper's blueprint (组卷规则): so many questions of a category and type, so many points each."""

    category: Literal["law_regulation", "standard", "professional_knowledge"]
    type: Literal["single_choice", "multiple_choice", "true_false"]
    count: int = Field(ge=1, le=200)
    points: float = Field(gt=0, le=100)


def _default_blueprint() -> tuple[BlueprintItem, ...]:
    lines = (
        ("law_regulation", "single_choice", 4),
        ("law_regulation", "multiple_choice", 2),
        ("law_regulation", "true_false", 3),
        ("standard", "single_choice", 2),
        ("standard", "true_false", 1),
        ("professional_knowledge", "single_choice", 4),
        ("professional_knowledge", "multiple_choice", 2),
        ("professional_knowledge", "true_false", 2),
    )
    return tuple(BlueprintItem(category=c, type=t, count=n, points=5) for c, t, n in lines)  # type: ignore[arg-type]


class ExamPolicy(_Strict):
    """质量安全管理人员考核: the numbers the seeds leave to the province. Every default is the platform's
    (平台默认, no seed fixes it) and says so in ``basis``; a province's pack may set its own."""

    basis: str = (
        "种子001 三(七)、002 三、003 三(八)：定期以随机方式开展考核，考核不合格的不得继续担任，"
        "多次考核不合格的约谈单位。及格线、试卷构成、时长、多选题计分、“多次”的次数与期间、"
        "排除近期已考人员的月数、督促整改期限均为平台默认，各省可在规则包中改定。"
    )
    pass_mark_percent: float = Field(60, gt=0, le=100)  # 平台默认: 60% of the paper's points
    duration_minutes: int = Field(60, ge=5, le=600)  # 平台默认
    multiple_choice_scoring: Literal["all_or_nothing", "partial"] = "all_or_nothing"  # 平台默认
    #: partial: a choice naming only correct options (not all) earns this share of the points.
    partial_share: float = Field(0.5, ge=0, le=1)
    blueprint: tuple[BlueprintItem, ...] = Field(default_factory=_default_blueprint, min_length=1)
    #: "多次考核不合格": this many failed results of one unit's managers within ``within_days`` → 约谈.
    repeated_failures: int = Field(2, ge=2)
    repeated_failures_within_days: int = Field(730, ge=1)
    #: 抽取时排除：近 N 个月内已参加考核的人员.
    exclude_examined_within_months: int = Field(12, ge=0, le=60)
    #: 督促整改: days a unit with failed managers has to put a qualified person in post.
    rectification_days: int = Field(30, ge=1, le=365)

    @property
    def total_points(self) -> float:
        return sum(item.count * item.points for item in self.blueprint)


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
    exam: ExamPolicy = ExamPolicy()

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
