"""Inspection request and response models."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from services.common.db import UTCDateTime


class SpotCheckCreate(BaseModel):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "enterprise_id": "0f3c2a7e-5b1d-4e8a-9c6f-2d4b8a1e7c3f",
                    "product": "家用燃气灶",
                    "batch": "JZT-2B-20261102",
                    "verdict": "failed",
                    "failed_items": ["熄火保护装置", "燃气导管"],
                    "sampled_on": "2026-11-02",
                    "kind": "spot_check",
                    "standard": "GB 16410-2020 家用燃气灶具",
                    "sampled_at": "producer",
                    "lab": "山西省产品质量监督检验研究院",
                }
            ]
        }
    }

    enterprise_id: str = Field(title="被抽查单位 id", min_length=1, max_length=36)
    product: str = Field(title="产品名称", min_length=1, max_length=200)
    batch: str = Field(title="批次/型号", min_length=1, max_length=100)
    verdict: Literal["passed", "failed"] = Field(title="检验结论：合格 passed / 不合格 failed")
    failed_items: list[str] = Field(default_factory=list, title="不合格项目", max_length=100)
    sampled_on: date = Field(title="抽样日期")
    kind: Literal["spot_check", "risk_monitoring"] = Field(
        "spot_check", title="类型：监督抽查 spot_check / 风险监测 risk_monitoring"
    )
    category_code: str | None = Field(None, title="产品类别代码（产品类别目录）", max_length=40)
    standard: str | None = Field(None, title="检验依据的标准", max_length=200)
    sampled_at: Literal["producer", "seller"] | None = Field(
        None, title="抽样地点：生产环节 producer / 销售环节 seller"
    )
    lab: str | None = Field(None, title="检验机构", max_length=200)


class SpotCheckPublic(BaseModel):
    id: str
    enterprise_id: str
    region_code: str
    product: str
    batch: str
    verdict: Literal["passed", "failed"]
    failed_items: list[str]
    sampled_on: date
    created_by: str
    created_at: UTCDateTime
    retest_result: Literal["upheld", "overturned"] | None = None
    retest_decided_on: date | None = None
    retest_note: str | None = None
    retest_by: str | None = None
    kind: Literal["spot_check", "risk_monitoring"] = "spot_check"
    category_code: str | None = None
    standard: str | None = None
    sampled_at: Literal["producer", "seller"] | None = None
    lab: str | None = None
    result_received_on: date | None = None
    retest_applied_on: date | None = None
    follow_up_status: str | None = None


class RetestCreate(BaseModel):
    """复检结论: the re-test the unit applied for either upholds the failure or overturns it."""

    result: Literal["upheld", "overturned"] = Field(title="复检结论：维持 upheld / 推翻 overturned")
    decided_on: date = Field(title="复检结论日期")
    note: str = Field("", title="说明", max_length=2000)
