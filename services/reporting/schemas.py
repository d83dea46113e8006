"""Reporting response models."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Summary(BaseModel):
    region: str = Field(title="统计范围（行政区划代码）")
    enterprises: int = Field(title="已录入单位总数")
    by_kind: dict[str, int] = Field(title="按单位类型")
    by_tier: dict[str, int] = Field(title="按层级 A–D（unknown：尚未分级）")
    by_supervision_class: dict[str, int] = Field(title="按监管类别")
    failed_spot_checks: int = Field(title="监督抽查不合格（批次）")
