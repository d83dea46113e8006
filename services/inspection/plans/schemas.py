"""Request and response models of the roster, the double-random plans and the half-year visit duty."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from services.common.db import UTCDateTime

REASONS = Literal["locked_due", "special_due", "key_due", "random"]
Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
RegionCode = Annotated[str, StringConstraints(pattern=r"^\d{6}(\d{3})?$")]


class InspectorIn(BaseModel):
    name: str = Field(min_length=1, max_length=50, title="姓名")
    region_code: RegionCode = Field(title="所属县级局或市场监管所代码（须在管辖范围内）")
    active: bool = Field(default=True, title="在岗（可被抽取）")

    @field_validator("name")
    @classmethod
    def _strip(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("姓名不能为空")
        return value.strip()


class ConflictIn(BaseModel):
    enterprise_id: str = Field(min_length=1, max_length=36, title="有利害关系的单位 id")
    reason: str = Field(min_length=1, max_length=500, title="回避原因")


class ConflictPublic(BaseModel):
    enterprise_id: str
    reason: str
    declared_by: str | None = None
    declared_at: UTCDateTime | None = None


class InspectorPublic(BaseModel):
    username: str
    name: str
    region_code: str
    active: bool
    conflicts: list[ConflictPublic]
    updated_at: UTCDateTime


class PlanCreate(BaseModel):
    region_code: RegionCode = Field(title="计划的县级局或市场监管所代码（须在管辖范围内）")
    period_start: date = Field(title="计划开始日期")
    period_end: date = Field(title="计划结束日期（到期应检的单位以此日为准）")
    ratio: float = Field(ge=0, le=1, title="其余在营单位的抽取比例（0–1，向上取整）")
    seed: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        title="随机种子（不填则由系统随机生成；可用公开的彩票开奖号码等）",
    )
    exclude_responsible_inspector: bool = Field(
        default=True, title="不抽取单位的监管责任人（按本省要求，默认排除）"
    )

    @field_validator("seed")
    @classmethod
    def _seed(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("随机种子不能为空白")
        return value.strip() if value is not None else None


class PlanEntryPublic(BaseModel):
    enterprise_id: str
    name: str
    uscc: str | None
    kind: str
    supervision_class: str
    locked: bool
    reason: REASONS = Field(
        description="locked_due 锁定单位到期应检 / special_due / key_due / random 随机抽取"
    )
    due_on: date | None = Field(description="应检日期（必检单位；空表示未曾检查且锁定日期不详：当即应检）")
    draw_position: int | None = Field(description="随机抽取的顺位（1 起）")
    inspectors: list[str]
    inspector_names: list[str]
    eligible_inspectors: int = Field(description="可抽取的执法检查人员数")
    flagged: bool = Field(description="可抽取人员不足两名，未分配")
    inspection_id: str | None


class PlanSummaryPublic(BaseModel):
    id: str
    region_code: str
    period_start: date
    period_end: date
    ratio: float
    seed: str
    algorithm: str
    status: Literal["draft", "published"]
    exclude_responsible_inspector: bool
    candidate_count: int = Field(description="参与随机抽取的单位数")
    drawn_count: int
    must_visit_count: int
    flagged_count: int
    inputs_sha256: str = Field(description="抽取输入（inputs）规范化 JSON 的 SHA-256")
    created_by: str
    created_at: UTCDateTime
    published_at: UTCDateTime | None


class PlanPublic(PlanSummaryPublic):
    entries: list[PlanEntryPublic]
    inputs: dict[str, Any] = Field(
        description="重新抽取所需的全部输入：种子、候选单位、人员名录、回避关系、监管责任人；"
        "already_planned：已有其他计划未完成的检查任务而未参与本次抽取的单位（enterprise_id、inspection_id、plan_id）"
    )


class VerifyMismatch(BaseModel):
    enterprise_id: str
    recorded: list[str] | None = Field(description="计划记录的执法人员（None：计划中无此单位）")
    recomputed: list[str] | None = Field(description="重新抽取的执法人员（None：重新抽取无此单位）")


class PlanVerification(BaseModel):
    plan_id: str
    algorithm: str
    seed: str
    inputs_sha256: str
    inputs_intact: bool = Field(description="记录的输入与公布的摘要一致")
    matches: bool = Field(description="按记录的种子与输入重新抽取，结果与计划一致")
    drawn: list[str] = Field(description="重新抽取的随机单位（按顺位）")
    mismatches: list[VerifyMismatch]


class VisitDutyPublic(BaseModel):
    enterprise_id: str
    name: str
    uscc: str | None
    region_code: str
    station_code: str | None
    supervision_class: str
    operating_status: str
    responsible_inspector: str | None
    visit_every_months: int
    locked_since: date | None
    last_visit_on: date | None = Field(description="最近一次现场检查日期")
    last_inspection_id: str | None
    next_due_on: date | None = Field(description="下次应检的最后日期（空：未曾检查且锁定日期不详，当即应检）")
    overdue: bool
    days_overdue: int | None
