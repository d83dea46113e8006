"""Request and response models of on-site inspections: the phone's operations, sync answers, the web's views."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, field_validator, model_validator

from services.common.db import UTCDateTime
from services.inspection import evidence

InspectionStatus = Literal["planned", "in_progress", "submitted", "reviewed"]
ResultValue = Literal["pass", "fail", "na", "waived"]
MAX_OPERATIONS = 500


class Gps(BaseModel):
    lat: float = Field(ge=-90, le=90, title="纬度")
    lon: float = Field(ge=-180, le=180, title="经度")
    accuracy_m: float | None = Field(default=None, ge=0, title="定位精度（米）")


class ItemResult(BaseModel):
    result: ResultValue = Field(title="结果：符合 pass / 不符合 fail / 不适用 na / 免于检查 waived")
    note: str = Field(default="", max_length=2000, title="备注")


class BaseOperation(BaseModel):
    inspection_id: str = Field(title="检查编号（移动端生成的 UUID）")
    device_id: str = Field(min_length=1, max_length=100, title="设备编号")
    device_seq: int = Field(ge=1, le=2**62, title="设备操作序号（每台设备单调递增）")
    device_time: datetime = Field(title="设备时间（无时区时按北京时间）")
    gps: Gps | None = None

    @field_validator("inspection_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError as exc:
            raise ValueError("检查编号须为 UUID") from exc

    @field_validator("device_time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return evidence.device_datetime(value)


class CreateOperation(BaseOperation):
    type: Literal["create"]
    enterprise_id: str = Field(min_length=1, max_length=36)
    trigger: Literal["adhoc", "complaint"] = "adhoc"
    trigger_ref: str | None = Field(default=None, max_length=36)
    inspectors: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=5, title="同行执法人员（调用者本人总是其中之一）"
    )

    @model_validator(mode="after")
    def _complaint_named(self) -> CreateOperation:
        if self.trigger == "complaint" and not self.trigger_ref:
            raise ValueError("投诉举报触发的检查须在 trigger_ref 中写明投诉编号")
        return self


class StartOperation(BaseOperation):
    type: Literal["start"]
    base_version: int = Field(ge=1)


class RecordOperation(BaseOperation):
    type: Literal["record"]
    base_version: int = Field(ge=1)
    results: dict[str, ItemResult] = Field(min_length=1, max_length=500)


class SubmitOperation(BaseOperation):
    type: Literal["submit", "conclude"]
    base_version: int = Field(ge=1)
    results: dict[str, ItemResult] = Field(default_factory=dict, max_length=500)
    conclusion: str | None = Field(default=None, max_length=4000)


Operation = Annotated[
    CreateOperation | StartOperation | RecordOperation | SubmitOperation, Field(discriminator="type")
]
OPERATION = TypeAdapter(Operation)


class SyncBatch(BaseModel):
    """A batch from one phone. Operations are checked one by one, so one malformed operation is rejected
    alone instead of holding the whole queue back."""

    operations: list[dict[str, Any]] = Field(
        max_length=MAX_OPERATIONS,
        description="create / start / record / submit operations; the shape of each is the schema Operation",
    )


OutcomeStatus = Literal["applied", "duplicate", "conflict", "rejected"]


class OperationOutcome(BaseModel):
    index: int = Field(description="position of the operation in the request")
    inspection_id: str | None = None
    device_id: str | None = None
    device_seq: int | None = None
    status: OutcomeStatus
    version: int | None = Field(default=None, description="the inspection's version now")
    inspection_status: InspectionStatus | None = None
    code: str | None = None
    message: str | None = None
    current_results: dict[str, Any] | None = Field(default=None, description="conflict: the results now")


class SyncResult(BaseModel):
    received_at: UTCDateTime
    applied: int
    duplicate: int
    conflict: int
    rejected: int
    outcomes: list[OperationOutcome]


class UnitPublic(BaseModel):
    id: str
    name: str
    kind: str
    region_code: str
    uscc: str | None = None
    sales_channel: str | None = None
    address: str | None = Field(default=None, description="not yet announced by registry")


class Assignment(BaseModel):
    id: str
    status: InspectionStatus
    version: int
    trigger: str
    trigger_ref: str | None
    plan_id: str | None
    inspectors: list[str]
    unit: UnitPublic
    template: str
    template_version: str
    checklist: list[dict[str, Any]]
    results: dict[str, Any]
    updated_at: UTCDateTime


class Assignments(BaseModel):
    cursor: str = Field(description="pass as ``since`` next time")
    items: list[Assignment] = Field(description="assignments changed since ``since`` (all without it)")
    assigned_ids: list[str] = Field(description="every inspection assigned to the caller now")


class InspectionSummary(BaseModel):
    id: str
    enterprise_id: str
    region_code: str
    status: InspectionStatus
    trigger: str
    trigger_ref: str | None
    plan_id: str | None
    template: str
    template_version: str
    inspectors: list[str]
    version: int
    device_started_at: UTCDateTime | None
    device_submitted_at: UTCDateTime | None
    received_at: UTCDateTime | None
    created_by: str
    created_at: UTCDateTime
    updated_at: UTCDateTime


class FindingBrief(BaseModel):
    id: str
    item_id: str | None
    description: str
    status: str


class EvidencePublic(evidence.EvidenceFilePublic):
    inspection_id: str


class InspectionDetail(InspectionSummary):
    checklist: list[dict[str, Any]]
    results: dict[str, Any]
    conclusion: str | None
    latitude: float | None
    longitude: float | None
    gps_accuracy_m: float | None
    device_id: str | None
    reviewed_by: str | None
    reviewed_at: UTCDateTime | None
    review_note: str | None
    findings: list[FindingBrief]
    evidence: list[EvidencePublic]
    revisions: int


class ReviewCreate(BaseModel):
    note: str = Field(min_length=1, max_length=4000, title="审核意见")
    base_version: int | None = Field(default=None, ge=1, title="审核所依据的版本（可选，过期则 409）")
