"""Grading response models."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from services.common.db import UTCDateTime


class ReasonPublic(BaseModel):
    rule: str
    text: str
    evidence: list[str]


class SignalPublic(BaseModel):
    id: str
    kind: str
    occurred_on: date
    source_type: str
    detail: dict


class GradingPublic(BaseModel):
    enterprise_id: str
    region_code: str
    name: str | None
    tier: str | None
    supervision_class: str
    reasons: list[ReasonPublic]
    signals: list[SignalPublic]
    updated_at: UTCDateTime


class GradingSummaryPublic(BaseModel):
    enterprise_id: str
    region_code: str
    name: str | None
    tier: str | None
    supervision_class: str


class GradingPage(BaseModel):
    items: list[GradingSummaryPublic]
    next_cursor: str | None = None
