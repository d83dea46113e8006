"""Inspection tables."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, SQLModel


class KnownEnterprise(SQLModel, table=True):
    """A unit as registry announced it: enough to check jurisdiction without calling registry."""

    __tablename__ = "known_enterprise"

    id: str = Field(primary_key=True, max_length=36)
    region_code: str = Field(max_length=6, index=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20)


class SpotCheck(SQLModel, table=True):
    """监督抽查: one sampled product and its verdict."""

    __tablename__ = "spot_check"

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, index=True)
    region_code: str = Field(max_length=6, index=True)
    product: str = Field(max_length=200)
    batch: str = Field(max_length=100)
    verdict: str = Field(max_length=10)
    failed_items: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list
    sampled_on: date
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    retest_result: str | None = Field(default=None, max_length=12)
    retest_decided_on: date | None = None
    retest_note: str | None = Field(default=None, sa_column=Column(Text))
    retest_by: str | None = Field(default=None, max_length=100)
