"""Reporting read models, built only from events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


class ReportedEnterprise(SQLModel, table=True):
    """One unit as the dashboard counts it; filled by whichever event names it first."""

    __tablename__ = "reported_enterprise"

    enterprise_id: str = Field(primary_key=True, max_length=36)
    region_code: str = Field(max_length=6, index=True)
    registered: bool = False
    kind: str | None = Field(default=None, max_length=20)
    tier: str | None = Field(default=None, max_length=1)
    supervision_class: str = Field(default="routine", max_length=20)
    failed_spot_checks: int = 0
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
