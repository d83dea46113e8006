"""Exam plan request and response models."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.common.db import UTCDateTime
from services.common.policy import BlueprintItem

Mode = Literal["online", "paper", "on_site"]
Role = Literal["quality_director", "quality_officer"]
Kind = Literal["production", "sales"]
PlanStatus = Literal["draft", "published", "results_published"]


class PlanCreate(BaseModel):
    title: str = Field(title="考核计划名称", min_length=1, max_length=200)
    mode: Mode = Field(title="考核方式：线上 online / 纸质 paper / 现场（随监督检查）on_site")
    period_start: date = Field(title="考核开始日期（北京时间）")
    period_end: date = Field(title="考核结束日期（北京时间，含当日）")
    roles: list[Role] = Field(
        title="考核岗位：质量安全总监 quality_director / 质量安全员 quality_officer",
        min_length=1,
        max_length=2,
    )
    kinds: list[Kind] = Field(
        title="单位类型：生产单位 production / 销售单位 sales", min_length=1, max_length=2
    )
    product_categories: list[str] = Field(
        default_factory=list, title="产品类别（产品类别目录代码；空 = 全部）", max_length=50
    )
    sample_count: int | None = Field(None, title="抽取人数（与抽取比例二选一）", ge=1, le=100_000)
    sample_ratio: float | None = Field(None, title="抽取比例（0 < 比例 ≤ 1，与抽取人数二选一）", gt=0, le=1)
    exclude_examined_within_months: int | None = Field(
        None, title="排除近 N 个月内已参加考核的人员（默认取规则包）", ge=0, le=60
    )
    blueprint: list[BlueprintItem] | None = Field(
        None, title="组卷规则（默认取规则包）：类别 × 题型 × 题量 × 每题分值", min_length=1, max_length=30
    )
    duration_minutes: int | None = Field(None, title="考试时长（分钟，默认取规则包）", ge=5, le=600)


class PlanPublic(BaseModel):
    id: str
    title: str
    organiser_region: str = Field(title="组织单位（县级行政区划代码或市场监管所代码）")
    mode: Mode
    period_start: date
    period_end: date
    roles: list[Role]
    kinds: list[Kind]
    product_categories: list[str]
    sample_count: int | None
    sample_ratio: float | None
    exclude_examined_within_months: int
    pack: str = Field(title="组卷与评分规则所取自的规则包（名称@版本）")
    blueprint: list[BlueprintItem]
    duration_minutes: int
    pass_mark: float = Field(title="及格分")
    max_score: float = Field(title="满分")
    multiple_choice_scoring: Literal["all_or_nothing", "partial"]
    partial_share: float
    status: PlanStatus
    draw_round: int = Field(title="最近一次抽取的轮次（0 = 尚未抽取）")
    seed: str | None
    algorithm: str | None
    candidate_count: int = Field(title="最近一次抽取的候选人数（抽取池）")
    inputs_sha256: str | None
    created_by: str
    created_at: UTCDateTime
    published_at: UTCDateTime | None
    results_published_at: UTCDateTime | None


class DrawRequest(BaseModel):
    seed: str | None = Field(
        None,
        title="随机种子（不填则由系统生成并公开）",
        min_length=8,
        max_length=64,
        pattern=r"^[0-9A-Za-z_-]+$",
    )
    reason: str | None = Field(None, title="重新抽取的原因（第二次及以后的抽取必填）", max_length=1000)


class DrawPublic(BaseModel):
    plan_id: str
    round: int = Field(title="抽取轮次")
    seed: str
    algorithm: str
    inputs: dict[str, Any] = Field(title="记录的抽取输入（规范 JSON）")
    inputs_sha256: str
    pool_size: int = Field(title="抽取池人数")
    excluded_count: int = Field(title="因近期已考核而排除的人数")
    drawn: list[str] = Field(title="抽中的人员（按抽取顺序）")
    reason: str | None = Field(title="重新抽取的原因")
    drawn_by: str
    drawn_at: UTCDateTime


class DrawVerification(BaseModel):
    plan_id: str
    round: int
    algorithm: str
    seed: str
    inputs_sha256: str
    digest_matches: bool = Field(title="记录的输入与其摘要一致")
    result_matches: bool = Field(title="按记录的输入重新抽取，结果与记录一致")
    consistent: bool = Field(title="抽取池有序无重复、不含被排除人员、人数符合规则")
    recorded: list[str]
    recomputed: list[str]
    verified: bool = Field(title="以上均成立")


class PlanCandidatePublic(BaseModel):
    """A sampled person: the name masked, never an ID number."""

    id: str = Field(title="考核对象编号")
    plan_id: str
    manager_id: str
    name_masked: str = Field(title="姓名（脱敏）")
    role: Role
    kind: Kind
    enterprise_id: str
    uscc: str
    region_code: str
    station_code: str | None
    draw_round: int
    rank: int = Field(title="抽取顺序")
    notified_at: UTCDateTime | None
    read_at: UTCDateTime | None


class NoticePublic(BaseModel):
    """考核通知: a unit's person was sampled for a plan."""

    candidate_id: str
    plan_id: str
    plan_title: str
    mode: Mode
    period_start: date
    period_end: date
    organiser_region: str
    manager_id: str
    name_masked: str
    role: Role
    notified_at: UTCDateTime | None
    read: bool
    read_at: UTCDateTime | None
