"""Requests and answers of the self-checks: the content of each kind of record, the record, the compliance."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.common.db import UTCDateTime
from services.registry.workdays import DAILY, MONTHLY, WEEKLY

#: How many missing periods a compliance answer lists (the total is always given).
MISSING_LISTED = 100


class SelfCheckKind(StrEnum):
    daily_control = DAILY  # 日管控
    weekly_review = WEEKLY  # 周排查
    monthly_dispatch = MONTHLY  # 月调度


# ------------------------------------------------------------------------------------------------ content

Text50 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text500 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Text2000 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckedItem(_Strict):
    """One risk point of the 风险管控清单, checked today."""

    point: Text200 = Field(description="风险点（取自本单位的质量安全风险管控清单）")
    result: Literal["ok", "hazard"] = Field(description="ok 正常 / hazard 发现隐患")
    note: Text500 | None = Field(default=None, description="说明")


class Hazard(_Strict):
    """A hazard found (隐患), what is done about it and where that stands."""

    description: Text500 = Field(description="隐患描述")
    measures: Text500 | None = Field(default=None, description="整改或防范措施")
    status: Literal["open", "rectifying", "rectified"] = Field(
        default="open", description="open 待整改 / rectifying 整改中 / rectified 已整改"
    )
    deadline: date | None = Field(default=None, description="整改期限")


class DailyContent(_Strict):
    """每日安全检查记录 (日管控). A day without risk is recorded too (``zero_risk``)."""

    items: list[CheckedItem] = Field(min_length=1, max_length=500, description="检查的风险点及结果")
    hazards: list[Hazard] = Field(default_factory=list, max_length=200, description="发现的隐患")
    measures: Text2000 | None = Field(default=None, description="采取的防范措施")
    reported_to: Text100 | None = Field(default=None, description="发现问题时报告的对象（如质量安全总监）")
    zero_risk: bool = Field(default=False, description="当日未发现风险（零风险）")

    @model_validator(mode="after")
    def _consistent(self) -> DailyContent:
        flagged = [item.point for item in self.items if item.result == "hazard"]
        if self.zero_risk and (flagged or self.hazards):
            raise ValueError("标记为零风险的记录不能含有隐患")
        if flagged and not self.hazards:
            raise ValueError(f"检查项目 {flagged[0]} 发现隐患，请在 hazards 中写明隐患及措施")
        if self.hazards and self.reported_to is None:
            raise ValueError("发现隐患须填写报告对象 reported_to（如质量安全总监）")
        return self


class WeeklyContent(_Strict):
    """每周安全排查治理报告 (周排查)."""

    summary: Text2000 = Field(description="本周排查情况")
    hazards: list[Hazard] = Field(default_factory=list, max_length=500, description="排查出的隐患")
    measures: Text2000 | None = Field(default=None, description="治理措施")
    status: Literal["no_hazard", "rectifying", "all_rectified"] = Field(
        description="no_hazard 未发现隐患 / rectifying 整改中 / all_rectified 已全部整改"
    )

    @model_validator(mode="after")
    def _consistent(self) -> WeeklyContent:
        if (self.status == "no_hazard") != (not self.hazards):
            raise ValueError(
                "status 为 no_hazard 时不应列出隐患；列出隐患时 status 须为 rectifying 或 all_rectified"
            )
        if self.status == "all_rectified" and any(h.status != "rectified" for h in self.hazards):
            raise ValueError("仍有未整改的隐患，status 不能为 all_rectified")
        return self


class MonthlyContent(_Strict):
    """每月安全调度会议纪要 (月调度)."""

    held_on: date = Field(description="会议日期（在当月内）")
    attendees: list[Text50] = Field(min_length=1, max_length=200, description="参会人员")
    summary: Text2000 = Field(description="会议内容：本月质量安全情况、风险研判")
    decisions: list[Text500] = Field(default_factory=list, max_length=200, description="调度事项与决定")


CONTENT_MODELS: dict[str, type[_Strict]] = {
    DAILY: DailyContent,
    WEEKLY: WeeklyContent,
    MONTHLY: MonthlyContent,
}


# ------------------------------------------------------------------------------------------------ schemas


class SelfCheckIn(BaseModel):
    """A self-check record. ``content`` depends on the kind: daily ``{items: [{point, result: ok|hazard,
    note}], hazards: [{description, measures, status, deadline}], measures, reported_to, zero_risk}``; weekly
    ``{summary, hazards, measures, status: no_hazard|rectifying|all_rectified}``; monthly ``{held_on,
    attendees, summary, decisions}``."""

    performed_by: Text50 = Field(description="填报人姓名")
    manager_id: str | None = Field(
        default=None,
        max_length=36,
        description="填报人的人员编号：日管控为质量安全员，周排查为质量安全总监，月调度为主要负责人",
    )
    content: dict[str, Any] = Field(description="记录内容（按类别，见说明）")
    attachment_id: str | None = Field(default=None, max_length=36, description="扫描件等附件（先上传）")


class SelfCheckPublic(BaseModel):
    id: str
    enterprise_id: str
    kind: SelfCheckKind
    period: str = Field(description="期间：YYYY-MM-DD / YYYY-Www / YYYY-MM")
    period_start: date
    period_end: date
    performed_by: str
    manager_id: str | None
    content: dict[str, Any]
    zero_risk: bool
    reported_to: str | None
    attachment_id: str | None
    owed: bool = Field(description="该期间是否应填报（停产停业期间的记录照常保存，但不计为应填报）")
    recorded_by: str
    created_at: UTCDateTime
    updated_at: UTCDateTime


class PeriodRef(BaseModel):
    period: str
    start: date
    end: date


class PausePublic(BaseModel):
    status: str = Field(description="production_suspended 停产 / business_suspended 停业")
    start: date | None = Field(description="起始日期（空：录入台账前即已停产停业）")
    end: date | None = Field(description="截止日期（空：仍在停产停业）")


class KindCompliancePublic(BaseModel):
    kind: SelfCheckKind
    owed: int = Field(description="应填报期间数")
    done: int = Field(description="已填报的应填报期间数")
    missing_total: int = Field(description="缺报期间数")
    missing: list[PeriodRef] = Field(description=f"缺报期间（最早的 {MISSING_LISTED} 个）")
    overdue_since: date | None = Field(description="最早缺报期间的起始日；无缺报为空")
    paused_periods: int = Field(description="因停产停业或注销等不计为应填报的期间数")
    recorded_not_owed: int = Field(description="不计为应填报期间的记录数（如停产期间、节假日的记录）")


class CompliancePublic(BaseModel):
    enterprise_id: str
    from_: date = Field(alias="from", description="起算日期")
    as_of: date = Field(description="统计截止：此日之前已结束的期间计为应填报")
    operating_status: str
    final_on: date | None = Field(description="注销、吊销或迁出的生效日期")
    pauses: list[PausePublic]
    calendar_known: bool = Field(description="期间内各年度的法定节假日是否已知（否则按周一至周五计工作日）")
    overdue_since: date | None
    kinds: list[KindCompliancePublic]

    model_config = ConfigDict(populate_by_name=True)


class KindDutyPublic(BaseModel):
    kind: SelfCheckKind
    overdue_since: date | None
    missing: int
    checked_on: date


class OverdueUnitPublic(BaseModel):
    enterprise_id: str
    uscc: str
    name: str
    region_code: str
    station_code: str | None
    operating_status: str
    overdue_since: date
    kinds: list[KindDutyPublic]
