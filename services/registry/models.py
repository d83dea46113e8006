"""Registry tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


class Enterprise(SQLModel, table=True):
    """台账: one production or sales unit."""

    __tablename__ = "enterprise"

    id: str = Field(primary_key=True, max_length=36)
    uscc: str = Field(max_length=18, unique=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    sales_channel: str | None = Field(default=None, max_length=20)
    region_code: str = Field(max_length=6, index=True)
    employees: int
    revenue_wan_yuan: float
    entry_reason: str = Field(max_length=40)
    operating_status: str = Field(default="normal", max_length=30)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
