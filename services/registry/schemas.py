"""Registry request and response models."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from services.common.db import UTCDateTime


class EnterpriseKind(StrEnum):
    production = "production"  # 生产单位
    sales = "sales"  # 销售单位


class SalesChannel(StrEnum):
    wholesale = "wholesale"  # 批发
    retail = "retail"  # 零售


class EntryReason(StrEnum):
    """录入原因 (seeds 001, 002, 003)."""

    quality_director_appointed = "quality_director_appointed"  # 设立质量安全总监
    spot_check = "spot_check"  # 监督抽查
    risk_monitoring = "risk_monitoring"  # 风险监测
    production_licence = "production_licence"  # 工业产品生产许可
    ccc = "ccc"  # 强制性产品认证
    on_site_inspection = "on_site_inspection"  # 现场检查
    enforcement = "enforcement"  # 执法查处
    complaint_verified = "complaint_verified"  # 投诉举报核实
    recall = "recall"  # 缺陷产品召回
    survey = "survey"  # 摸底排查
    other = "other"  # 其他


class OperatingStatus(StrEnum):
    normal = "normal"  # 正常
    production_suspended = "production_suspended"  # 停产
    business_suspended = "business_suspended"  # 停业
    deregistered = "deregistered"  # 注销
    revoked = "revoked"  # 吊销
    moved_out = "moved_out"  # 迁出


class EnterpriseCreate(BaseModel):
    uscc: str = Field(title="统一社会信用代码", min_length=1, max_length=40)
    name: str = Field(title="单位名称", min_length=1, max_length=200)
    kind: EnterpriseKind = Field(title="单位类型：生产 production / 销售 sales")
    sales_channel: SalesChannel | None = Field(
        default=None, title="销售渠道：批发 wholesale / 零售 retail（销售单位必填）"
    )
    region_code: str = Field(title="行政区划代码 (GB/T 2260)", min_length=6, max_length=6)
    employees: int = Field(title="从业人员（人）", ge=0, le=10_000_000)
    revenue_wan_yuan: float = Field(title="营业收入（万元）", ge=0, le=1e10)
    entry_reason: EntryReason = Field(title="录入原因")


class EnterprisePublic(BaseModel):
    id: str
    uscc: str
    name: str
    kind: EnterpriseKind
    sales_channel: SalesChannel | None
    region_code: str
    employees: int
    revenue_wan_yuan: float
    entry_reason: EntryReason
    operating_status: OperatingStatus
    created_by: str
    created_at: UTCDateTime
    updated_at: UTCDateTime


class EnterprisePage(BaseModel):
    items: list[EnterprisePublic]
    next_cursor: str | None = None
