"""Grading request and response models."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from services.common.db import UTCDateTime

Tier = Literal["A", "B", "C", "D"]
SupervisionClass = Literal["routine", "key", "special"]
Level = Literal["province", "city", "county", "station"]
#: What a regulator or another system may report by API (spot-check results come as inspection events).
ReportedKind = Literal[
    "spot_check_failed",
    "penalty",
    "major_accident",
    "complaint_verified",
    "credit_risk",
    "summoned",
    "recall",
]


class ReasonPublic(BaseModel):
    rule: str
    text: str
    basis: str = ""
    evidence: list[str] = []


class DecisionPublic(BaseModel):
    pack: str
    pack_version: str
    pack_title: str
    tier: Tier | None
    tier_name: str | None
    tier_rule: str | None
    tier_reason: str | None
    responsible_level: Level | None
    responsible_level_title: str | None
    responsible_region: str | None
    supervision_class: SupervisionClass
    supervision_class_name: str
    class_source: Literal["automatic", "manual", "held"]
    automatic_class: SupervisionClass
    reasons: list[ReasonPublic]
    escalated: bool
    escalation_reasons: list[ReasonPublic]
    locked: bool
    lock_reasons: list[ReasonPublic]
    visit_every_months: int | None
    manual_decision_id: str | None
    overturned_signals: list[str]
    explanation: str = Field(description="the decision in one paragraph of Chinese")


class SignalPublic(BaseModel):
    id: str
    kind: str
    occurred_on: date
    source_type: str
    heavier: bool
    credit_class: str | None
    ref: str | None
    recorded_by: str | None
    detail: dict[str, Any]


class ManualDecisionPublic(BaseModel):
    id: str
    supervision_class: SupervisionClass
    reason: str
    decided_on: date
    expires_on: date
    decided_by: str
    decided_by_region: str
    created_at: UTCDateTime
    revoked_at: UTCDateTime | None
    revoked_by: str | None
    in_force: bool


class GradingPublic(BaseModel):
    enterprise_id: str
    region_code: str
    uscc: str | None
    name: str | None
    kind: str | None
    sales_channel: str | None
    employees: int | None
    revenue_wan_yuan: float | None
    decision: DecisionPublic | None
    signals: list[SignalPublic]
    manual_decisions: list[ManualDecisionPublic]
    updated_at: UTCDateTime


class GradingSummaryPublic(BaseModel):
    enterprise_id: str
    region_code: str
    name: str | None
    kind: str | None
    tier: str | None
    supervision_class: str
    class_source: str
    responsible_level: str | None
    responsible_region: str | None
    escalated: bool
    locked: bool


class GradingPage(BaseModel):
    items: list[GradingSummaryPublic]
    next_cursor: str | None = None


class HistoryPublic(BaseModel):
    id: str
    decided_at: UTCDateTime
    cause: str
    cause_id: str | None
    tier: str | None
    supervision_class: str
    class_source: str
    responsible_level: str | None
    escalated: bool
    locked: bool
    pack: str
    pack_version: str
    decision: DecisionPublic


class HistoryPage(BaseModel):
    items: list[HistoryPublic]
    next_cursor: str | None = None


class SignalCreate(BaseModel):
    """A risk signal from a regulator or another system: 行政处罚, 事故, 投诉核实, 信用分类, 约谈, 召回."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "kind": "penalty",
                    "occurred_on": "2026-10-15",
                    "heavier": True,
                    "ref": "文市监罚〔2026〕18 号",
                    "note": "生产不符合安全标准的燃气灶，从重处罚",
                }
            ]
        }
    }

    kind: ReportedKind
    occurred_on: date
    heavier: bool = Field(False, description="从重处罚 (penalty only)")
    credit_class: Literal["A", "B", "C", "D"] | None = Field(None, description="credit_risk only")
    ref: str | None = Field(None, max_length=64, description="the case, complaint or recall number")
    note: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _fields_of_kind(self) -> SignalCreate:
        if (self.kind == "credit_risk") != (self.credit_class is not None):
            raise ValueError("信用风险分类（credit_risk）须且只能填写 credit_class（A–D）")
        if self.heavier and self.kind != "penalty":
            raise ValueError("heavier（从重处罚）只适用于行政处罚（penalty）")
        return self


class ManualDecisionCreate(BaseModel):
    supervision_class: SupervisionClass
    reason: str = Field(min_length=4, max_length=2000, description="人工认定的理由（必填）")
    expires_on: date


class UnitSize(BaseModel):
    kind: Literal["production", "sales"]
    sales_channel: Literal["wholesale", "retail"] | None = None
    employees: int = Field(ge=0)
    revenue_wan_yuan: float = Field(ge=0)


class WhatIfSignal(BaseModel):
    id: str | None = None
    kind: Literal[ReportedKind, "spot_check_overturned"]  # type: ignore[valid-type]
    occurred_on: date
    heavier: bool = False
    credit_class: Literal["A", "B", "C", "D"] | None = None
    ref: str | None = None


class WhatIfRequest(BaseModel):
    """Evaluate without storing: a stored unit (``enterprise_id``) or a described one, under any pack."""

    pack: str | None = Field(None, description="pack name; default: the pack of the unit's province")
    enterprise_id: str | None = None
    region_code: str | None = Field(None, min_length=6, max_length=6)
    size: UnitSize | None = None
    signals: list[WhatIfSignal] = []
    today: date | None = None

    @model_validator(mode="after")
    def _one_unit(self) -> WhatIfRequest:
        if self.enterprise_id is None and self.region_code is None:
            raise ValueError("须提供 enterprise_id（已入库单位）或 region_code 与 size（假设单位）")
        return self


class PackSummary(BaseModel):
    pack: str
    version: str
    title: str
    effective_from: date
    provinces: list[str]
    default: bool


class AnnualListItem(BaseModel):
    year: int
    supervision_class: SupervisionClass
    enterprise_id: str
    kind: str
    region_code: str
    name: str | None
    listed_on: date
    rule: str
    reason: str


class AnnualListPage(BaseModel):
    year: int
    supervision_class: SupervisionClass
    frozen: bool
    frozen_at: UTCDateTime | None
    items: list[AnnualListItem]
    next_cursor: str | None = None


class RecomputeRequest(BaseModel):
    full: bool = Field(
        True, description="true: every unit (after a pack change); false: only those that can lapse"
    )


class RecomputeJobOut(BaseModel):
    id: str
    full: bool
    status: str
    total: int
    done: int
    changed: int
    requested_by: str
    started_at: UTCDateTime
    finished_at: UTCDateTime | None
    error: str | None
