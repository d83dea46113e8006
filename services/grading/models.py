"""Grading tables."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, SQLModel


class GradedEnterprise(SQLModel, table=True):
    """What grading knows of a unit (from registry's events) and its current decision."""

    __tablename__ = "graded_enterprise"

    enterprise_id: str = Field(primary_key=True, max_length=36)
    region_code: str = Field(max_length=6, index=True)
    name: str | None = Field(default=None, max_length=200)
    kind: str | None = Field(default=None, max_length=20)
    sales_channel: str | None = Field(default=None, max_length=20)
    employees: int | None = None
    revenue_wan_yuan: float | None = None
    tier: str | None = Field(default=None, max_length=1, index=True)
    tier_rule: str | None = Field(default=None, max_length=100)
    tier_reason: str | None = Field(default=None, sa_column=Column(Text))
    supervision_class: str = Field(default="routine", max_length=20, index=True)
    class_rule: str = Field(default="no_risk_signal", max_length=100)
    class_reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    class_evidence: str = Field(
        default="[]", sa_column=Column(Text, nullable=False)
    )  # JSON list of event ids
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class RiskSignal(SQLModel, table=True):
    """风险信号: one input that can move a supervision class, kept with the event it came from."""

    __tablename__ = "risk_signal"

    id: str = Field(primary_key=True, max_length=36)  # the source event id
    enterprise_id: str = Field(max_length=36, index=True)
    kind: str = Field(max_length=40)
    occurred_on: date
    source_type: str = Field(max_length=200)
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
