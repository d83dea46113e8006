"""Registry request and response models of the ledger (台账) itself. Managers, documents, self-checks,
inspectors and imports keep their models beside their logic (``people/``, ``documents.py`` …)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator

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


ENTRY_REASON_NAMES = {
    "quality_director_appointed": "设立质量安全总监",
    "spot_check": "监督抽查",
    "risk_monitoring": "风险监测",
    "production_licence": "工业产品生产许可",
    "ccc": "强制性产品认证",
    "on_site_inspection": "现场检查",
    "enforcement": "执法查处",
    "complaint_verified": "投诉举报核实",
    "recall": "缺陷产品召回",
    "survey": "摸底排查",
    "other": "其他",
}


class OperatingStatus(StrEnum):
    normal = "normal"  # 正常
    production_suspended = "production_suspended"  # 停产
    business_suspended = "business_suspended"  # 停业
    deregistered = "deregistered"  # 注销
    revoked = "revoked"  # 吊销
    moved_out = "moved_out"  # 迁出


STATUS_NAMES = {
    "normal": "正常",
    "production_suspended": "停产",
    "business_suspended": "停业",
    "deregistered": "注销",
    "revoked": "吊销",
    "moved_out": "迁出",
}
# 停产/停业: self-checks are not owed while paused. The other abnormal statuses end the unit's life here.
PAUSED_STATUSES = frozenset({"production_suspended", "business_suspended"})
FINAL_STATUSES = frozenset({"deregistered", "revoked", "moved_out"})


class CertificateKind(StrEnum):
    production_licence = "production_licence"  # 工业产品生产许可证
    ccc = "ccc"  # 强制性产品认证证书


class CertificateIn(BaseModel):
    kind: CertificateKind = Field(title="证书类型：生产许可证 production_licence / CCC 证书 ccc")
    number: str = Field(title="证书编号", min_length=1, max_length=60)
    category_code: str | None = Field(default=None, title="产品类别代码", max_length=40)
    valid_from: date | None = Field(default=None, title="发证日期")
    valid_until: date | None = Field(default=None, title="有效期至")


class CertificatePublic(CertificateIn):
    id: str


class SiteIn(BaseModel):
    region_code: str = Field(title="生产场所所在行政区划代码", min_length=6, max_length=6)
    address: str = Field(title="生产场所地址", min_length=1, max_length=300)


class SitePublic(SiteIn):
    id: str


class LedgerFields(BaseModel):
    """The fields of a unit's record that are entered (by a regulator, an enterprise draft or an import)."""

    uscc: str = Field(title="统一社会信用代码", min_length=1, max_length=40)
    name: str = Field(title="单位名称", min_length=1, max_length=200)
    kind: EnterpriseKind = Field(title="单位类型：生产 production / 销售 sales")
    sales_channel: SalesChannel | None = Field(
        default=None,
        title="销售渠道：批发 wholesale / 零售 retail（销售单位必填；生产单位兼营销售时填写）",
    )
    region_code: str = Field(title="注册地行政区划代码 (GB/T 2260)", min_length=6, max_length=6)
    station_code: str | None = Field(
        default=None, title="负责的市场监管所代码（县级代码+3位）", pattern=r"^\d{9}$"
    )
    registered_address: str | None = Field(default=None, title="注册地址", max_length=300)
    principal_name: str | None = Field(default=None, title="主要负责人姓名", max_length=50)
    principal_phone: str | None = Field(default=None, title="主要负责人联系电话", max_length=20)
    employees: int = Field(title="从业人员（人）", ge=0, le=10_000_000)
    revenue_wan_yuan: float = Field(title="营业收入（万元）", ge=0, le=1e10)
    size_year: int | None = Field(default=None, title="从业人员和营业收入所属年度", ge=1990, le=2100)
    product_categories: list[str] = Field(default_factory=list, title="产品类别代码", max_length=50)
    certificates: list[CertificateIn] = Field(
        default_factory=list, title="生产许可证/CCC 证书", max_length=200
    )
    sites: list[SiteIn] = Field(default_factory=list, title="生产场所（注册地以外）", max_length=200)
    entry_reason: EntryReason = Field(title="录入原因（首次录入必填）")
    entry_note: str | None = Field(default=None, title="录入原因说明", max_length=500)


class EnterpriseCreate(LedgerFields):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "uscc": "91141121MA0K2A3B4E",
                    "name": "文水县示范阀门有限公司",
                    "kind": "production",
                    "region_code": "141121",
                    "station_code": "141121001",
                    "registered_address": "山西省吕梁市文水县凤城镇工业园区 8 号",
                    "principal_name": "张建国",
                    "principal_phone": "13835800001",
                    "employees": 25,
                    "revenue_wan_yuan": 1500,
                    "size_year": 2025,
                    "product_categories": [],
                    "certificates": [
                        {
                            "kind": "production_licence",
                            "number": "XK21-001-00001",
                            "valid_until": "2028-06-30",
                        }
                    ],
                    "entry_reason": "spot_check",
                    "entry_note": "2026 年省级监督抽查发现",
                }
            ]
        }
    }


class EnterpriseUpdate(BaseModel):
    """A change to a unit's record: only the fields given change. ``version`` is the version the change
    was made against (409 if the record changed since); ``reason`` goes into the audit history."""

    version: int = Field(title="所修改记录的版本号", ge=1)
    reason: str = Field(title="变更原因", min_length=1, max_length=500)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: EnterpriseKind | None = None
    sales_channel: SalesChannel | None = None
    region_code: str | None = Field(default=None, min_length=6, max_length=6)
    station_code: str | None = Field(default=None, pattern=r"^\d{9}$")
    registered_address: str | None = Field(default=None, max_length=300)
    principal_name: str | None = Field(default=None, max_length=50)
    principal_phone: str | None = Field(default=None, max_length=20)
    employees: int | None = Field(default=None, ge=0, le=10_000_000)
    revenue_wan_yuan: float | None = Field(default=None, ge=0, le=1e10)
    size_year: int | None = Field(default=None, ge=1990, le=2100)
    product_categories: list[str] | None = Field(default=None, max_length=50)
    certificates: list[CertificateIn] | None = Field(default=None, max_length=200)
    sites: list[SiteIn] | None = Field(default=None, max_length=200)
    entry_note: str | None = Field(default=None, max_length=500)

    @field_validator("name", "kind", "region_code", "employees", "revenue_wan_yuan", mode="before")
    @classmethod
    def _required_not_null(cls, value: Any) -> Any:
        # Left out, a field keeps its value; these cannot be emptied (the ledger requires them): null is a 422.
        if value is None:
            raise ValueError("该项为必填项，不能设为空（null）；不修改请省略该字段")
        return value

    @field_validator("product_categories", "certificates", "sites", mode="before")
    @classmethod
    def _null_list_clears(cls, value: Any) -> Any:
        # As in a JSON merge patch (RFC 7396), null removes: the unit has no categories, certificates or
        # sites any more, as [] would say (and as a GET shows them).
        return [] if value is None else value


class StatusChangeIn(BaseModel):
    status: OperatingStatus = Field(title="经营状态")
    effective_on: date = Field(title="生效日期")
    reason: str = Field(title="原因", min_length=1, max_length=500)


class StatusChangePublic(BaseModel):
    id: str
    from_status: OperatingStatus
    to_status: OperatingStatus
    effective_on: date
    reason: str
    recorded_by: str
    recorded_at: UTCDateTime


class EnterprisePublic(BaseModel):
    id: str
    uscc: str
    name: str
    kind: EnterpriseKind
    sales_channel: SalesChannel | None
    region_code: str
    station_code: str | None = None
    registered_address: str | None = None
    principal_name: str | None = None
    principal_phone: str | None = Field(default=None, description="按角色脱敏")
    employees: int
    revenue_wan_yuan: float
    size_year: int | None = None
    product_categories: list[str] = Field(default_factory=list)
    certificates: list[CertificatePublic] = Field(default_factory=list)
    sites: list[SitePublic] = Field(default_factory=list)
    entry_reason: EntryReason
    entry_note: str | None = None
    entry_path: str = "regulator"
    operating_status: OperatingStatus
    status_effective_on: date | None = None
    status_reason: str | None = None
    tier: str | None = None
    supervision_class: str = "routine"
    locked: bool = False
    responsible_inspector: str | None = None
    responsible_inspector_name: str | None = None
    has_quality_director: bool = False
    has_risk_control_list: bool = False
    self_check_overdue_since: date | None = None
    # True when the caller sees the unit only because it produces on a site in the caller's region.
    via_site: bool = False
    version: int = 1
    created_by: str
    created_at: UTCDateTime
    updated_at: UTCDateTime


class EnterpriseSummary(BaseModel):
    """A unit in a list (without its certificates and sites)."""

    id: str
    uscc: str
    name: str
    kind: EnterpriseKind
    sales_channel: SalesChannel | None
    region_code: str
    station_code: str | None = None
    operating_status: OperatingStatus
    tier: str | None = None
    supervision_class: str = "routine"
    locked: bool = False
    responsible_inspector: str | None = None
    has_quality_director: bool = False
    has_risk_control_list: bool = False
    self_check_overdue_since: date | None = None
    employees: int
    revenue_wan_yuan: float
    entry_reason: EntryReason
    # True when listed only because it produces on a site in the caller's region (``include_sites``).
    via_site: bool = False
    created_at: UTCDateTime
    updated_at: UTCDateTime


class EnterprisePage(BaseModel):
    items: list[EnterpriseSummary]
    next_cursor: str | None = None


class AuditEntryPublic(BaseModel):
    id: str
    entity: str
    entity_id: str
    action: str
    actor: str
    actor_role: str
    at: UTCDateTime
    changes: dict[str, list[object]]
    reason: str | None


class SubmissionIn(BaseModel):
    """An enterprise's draft of its own record: a first entry (all fields) or an update of its unit."""

    data: LedgerFields


class SubmissionReturn(BaseModel):
    reasons: list[str] = Field(title="退回原因", min_length=1, max_length=50)


class SubmissionPublic(BaseModel):
    id: str
    enterprise_id: str | None
    uscc: str
    region_code: str
    station_code: str | None
    data: LedgerFields
    status: str = Field(description="draft 草稿 | submitted 待审核 | confirmed 已确认入账 | returned 已退回")
    submitted_by: str
    submitted_at: UTCDateTime | None
    reviewed_by: str | None
    reviewed_at: UTCDateTime | None
    return_reasons: list[str] | None
    created_at: UTCDateTime
    updated_at: UTCDateTime


class SubmissionPage(BaseModel):
    items: list[SubmissionPublic]
    next_cursor: str | None = None


class RegionChangeIn(BaseModel):
    old_code: str = Field(title="撤销或变更前的行政区划代码", pattern=r"^\d{6}$")
    new_code: str = Field(title="变更后的行政区划代码", pattern=r"^\d{6}$")
    effective_on: date = Field(title="变更生效日期")
    note: str = Field(title="依据（如民政部批复文号）", min_length=1, max_length=500)


class RegionChangePublic(RegionChangeIn):
    id: str
    units_moved: int
    applied_by: str
    applied_at: UTCDateTime
