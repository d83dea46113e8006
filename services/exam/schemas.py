"""Exam request and response models beyond the bank (``bank/schemas.py``)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field


class CandidatePublic(BaseModel):
    """An appointed manager who may be sampled: the name masked, no ID number."""

    manager_id: str
    role: Literal["quality_director", "quality_officer"]
    name_masked: str = Field(title="姓名（脱敏）")
    appointed_on: date
    enterprise_id: str
    enterprise_name: str
    uscc: str
    kind: Literal["production", "sales"]
    region_code: str
    station_code: str | None
    product_categories: list[str]
