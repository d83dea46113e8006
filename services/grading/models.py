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
    uscc: str | None = Field(default=None, max_length=18, unique=True)
    name: str | None = Field(default=None, max_length=200)
    kind: str | None = Field(default=None, max_length=20)
    sales_channel: str | None = Field(default=None, max_length=20)
    employees: int | None = None
    revenue_wan_yuan: float | None = None
    # The time of the registry event the size came from: an older event never overwrites a newer size.
    size_as_of: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    tier: str | None = Field(default=None, max_length=1, index=True)
    tier_rule: str | None = Field(default=None, max_length=100)
    tier_reason: str | None = Field(default=None, sa_column=Column(Text))
    supervision_class: str = Field(default="routine", max_length=20, index=True)
    class_rule: str = Field(default="routine.no_risk_signal", max_length=100)
    class_reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    class_evidence: str = Field(
        default="[]", sa_column=Column(Text, nullable=False)
    )  # JSON list of signal ids
    class_source: str = Field(default="automatic", max_length=20)
    automatic_class: str = Field(default="routine", max_length=20)
    responsible_level: str | None = Field(default=None, max_length=20, index=True)
    responsible_region: str | None = Field(default=None, max_length=6)
    escalated: bool = Field(default=False)
    locked: bool = Field(default=False, index=True)
    pack: str | None = Field(default=None, max_length=40)
    pack_version: str | None = Field(default=None, max_length=40)
    # Every reason of the decision (class, escalation, locking) as JSON, for GET and history.
    decision: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    # The last day a manual decision released a held class (lapse: hold).
    released_on: date | None = None
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class RiskSignal(SQLModel, table=True):
    """风险信号: one input that can move a supervision class, kept with the event or request it came from."""

    __tablename__ = "risk_signal"

    id: str = Field(primary_key=True, max_length=36)  # the source event id, or a new id for API input
    # None while a credit class waits for its unit to be registered (matched by USCC).
    enterprise_id: str | None = Field(default=None, max_length=36, index=True)
    uscc: str | None = Field(default=None, max_length=18, index=True)
    kind: str = Field(max_length=40)
    occurred_on: date
    source_type: str = Field(max_length=200)
    heavier: bool = Field(default=False)
    credit_class: str | None = Field(default=None, max_length=1)
    ref: str | None = Field(default=None, max_length=64)  # e.g. the spot check a failure or re-test is about
    recorded_by: str | None = Field(default=None, max_length=100)
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ManualDecision(SQLModel, table=True):
    """人工认定: a class set by hand, with its reason and expiry; revoked rather than deleted."""

    __tablename__ = "manual_decision"

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, index=True)
    supervision_class: str = Field(max_length=20)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    decided_on: date
    expires_on: date
    decided_by: str = Field(max_length=100)
    decided_by_region: str = Field(max_length=6)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    revoked_by: str | None = Field(default=None, max_length=100)


class DecisionHistory(SQLModel, table=True):
    """One row per change of a unit's decision: what it became, by which rule of which pack, and why."""

    __tablename__ = "decision_history"

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, index=True)
    decided_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    cause: str = Field(max_length=200)  # the event type, "manual", or "recompute"
    cause_id: str | None = Field(default=None, max_length=36)
    tier: str | None = Field(default=None, max_length=1)
    supervision_class: str = Field(max_length=20)
    class_source: str = Field(max_length=20)
    responsible_level: str | None = Field(default=None, max_length=20)
    escalated: bool
    locked: bool
    pack: str = Field(max_length=40)
    pack_version: str = Field(max_length=40)
    decision: str = Field(sa_column=Column(Text, nullable=False))


class AnnualListEntry(SQLModel, table=True):
    """年度名单: a unit on the key or special list of a year; a unit enters once per list and year."""

    __tablename__ = "annual_list_entry"

    year: int = Field(primary_key=True)
    supervision_class: str = Field(primary_key=True, max_length=20)
    enterprise_id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=20)
    region_code: str = Field(max_length=6, index=True)
    name: str | None = Field(default=None, max_length=200)
    listed_on: date
    rule: str = Field(max_length=100)
    reason: str = Field(sa_column=Column(Text, nullable=False))


class AnnualListFreeze(SQLModel, table=True):
    """A year whose lists are closed: nothing enters them after ``frozen_at``."""

    __tablename__ = "annual_list_freeze"

    year: int = Field(primary_key=True)
    frozen_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
