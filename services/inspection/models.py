"""Inspection tables."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def _ts(nullable: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), nullable=nullable)


def _json(default: str = "[]") -> Column:  # type: ignore[type-arg]
    return Column(Text, nullable=False, default=default)


class KnownEnterprise(SQLModel, table=True):
    """A unit as registry announced it: enough to check jurisdiction without calling registry."""

    __tablename__ = "known_enterprise"

    id: str = Field(primary_key=True, max_length=36)
    region_code: str = Field(max_length=6, index=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    # What the plans and checklists need, kept from registry's and grading's events.
    uscc: str | None = Field(default=None, max_length=18)
    sales_channel: str | None = Field(default=None, max_length=20)
    station_code: str | None = Field(default=None, max_length=9)
    operating_status: str = Field(default="normal", max_length=30)
    supervision_class: str = Field(default="routine", max_length=20, index=True)
    locked: bool = Field(default=False, index=True)
    visit_every_months: int | None = None
    responsible_inspector: str | None = Field(default=None, max_length=100)
    # First day inspection saw the unit locked (China date): a never-visited locked unit is due from it.
    locked_since: date | None = None
    # The unit's own key risk points (latest 风险管控清单), JSON list of {"point", "controls", ...}.
    risk_points: str = Field(default="[]", sa_column=_json())


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
    # 抽样: what was sampled, where, under which standard; the lab; when the unit received the result
    # (the 15-day re-test window runs from it) and when it applied for a re-test.
    category_code: str | None = Field(default=None, max_length=40)
    standard: str | None = Field(default=None, max_length=200)
    sampled_at: str | None = Field(default=None, max_length=20)  # producer | seller
    kind: str = Field(default="spot_check", max_length=20)  # spot_check 监督抽查 | risk_monitoring 风险监测
    lab: str | None = Field(default=None, max_length=200)
    result_received_on: date | None = None
    retest_applied_on: date | None = None
    follow_up_status: str | None = Field(
        default=None, max_length=20
    )  # ordered | closed (re-check passed) | escalated (re-check failed) | withdrawn (re-test overturned)


class Inspector(SQLModel, table=True):
    """执法人员名录: an inspector who may be drawn for visits, with declared conflicts of interest."""

    __tablename__ = "inspector"

    username: str = Field(primary_key=True, max_length=100)
    name: str = Field(max_length=50)
    region_code: str = Field(max_length=9, index=True)
    active: bool = Field(default=True)
    # 利害关系回避: JSON list of {"enterprise_id", "reason", "declared_by", "declared_at"}.
    conflicts: str = Field(default="[]", sa_column=_json())
    updated_at: datetime = Field(sa_column=_ts())


class InspectionPlan(SQLModel, table=True):
    """检查计划: for a jurisdiction and period, the units that must be visited plus a double-random draw."""

    __tablename__ = "inspection_plan"

    id: str = Field(primary_key=True, max_length=36)
    region_code: str = Field(max_length=9, index=True)
    period_start: date
    period_end: date
    ratio: float
    seed: str = Field(max_length=100)
    algorithm: str = Field(max_length=100)
    status: str = Field(max_length=20)  # draft | published
    summary: str = Field(default="{}", sa_column=_json("{}"))
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())
    published_at: datetime | None = Field(default=None, sa_column=_ts(True))


class PlanEntry(SQLModel, table=True):
    """One unit of a plan: why it is in it, and the inspectors drawn for it."""

    __tablename__ = "plan_entry"
    __table_args__ = (UniqueConstraint("plan_id", "enterprise_id"),)

    id: str = Field(primary_key=True, max_length=36)
    plan_id: str = Field(max_length=36, foreign_key="inspection_plan.id", index=True)
    enterprise_id: str = Field(max_length=36, index=True)
    reason: str = Field(max_length=30)  # locked_due | key_due | special_due | random
    inspectors: str = Field(default="[]", sa_column=_json())
    inspection_id: str | None = Field(default=None, max_length=36)


class Inspection(SQLModel, table=True):
    """监督检查/现场检查: one on-site visit, made on a phone: planned → in_progress → submitted → reviewed."""

    __tablename__ = "inspection"
    __table_args__ = (Index("ix_inspection_region_status", "region_code", "status"),)

    id: str = Field(primary_key=True, max_length=36)  # made by the client (UUID)
    enterprise_id: str = Field(max_length=36, index=True)
    region_code: str = Field(max_length=6)
    plan_id: str | None = Field(default=None, max_length=36)
    trigger: str = Field(default="plan", max_length=20)  # plan | complaint | follow_up | adhoc
    trigger_ref: str | None = Field(default=None, max_length=36)
    template: str = Field(max_length=50)
    template_version: str = Field(max_length=20)
    checklist: str = Field(default="[]", sa_column=_json())  # the frozen items, unit's risk points included
    results: str = Field(default="{}", sa_column=_json("{}"))  # item id → {"result": ..., "note": ...}
    conclusion: str | None = Field(default=None, sa_column=Column(Text))
    status: str = Field(max_length=20)
    inspectors: str = Field(default="[]", sa_column=_json())
    version: int = Field(default=1)
    device_id: str | None = Field(default=None, max_length=100)
    device_seq: int = Field(default=0)  # the device's sequence of the last change applied
    device_started_at: datetime | None = Field(default=None, sa_column=_ts(True))
    device_submitted_at: datetime | None = Field(default=None, sa_column=_ts(True))
    latitude: float | None = None
    longitude: float | None = None
    gps_accuracy_m: float | None = None
    received_at: datetime | None = Field(default=None, sa_column=_ts(True))
    reviewed_by: str | None = Field(default=None, max_length=100)
    reviewed_at: datetime | None = Field(default=None, sa_column=_ts(True))
    review_note: str | None = Field(default=None, sa_column=Column(Text))
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class InspectionRevision(SQLModel, table=True):
    """Every accepted change of an inspection, as the device sent it (the history of edits)."""

    __tablename__ = "inspection_revision"
    __table_args__ = (
        UniqueConstraint("inspection_id", "version"),
        # One device's operation is applied once: a re-sent operation cannot make a second revision.
        UniqueConstraint("device_id", "device_seq", "inspection_id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    inspection_id: str = Field(max_length=36, foreign_key="inspection.id", index=True)
    version: int
    device_id: str | None = Field(default=None, max_length=100)  # None: a change made on the web
    device_seq: int
    body: str = Field(sa_column=Column(Text, nullable=False))
    made_by: str = Field(max_length=100)
    received_at: datetime = Field(sa_column=_ts())


class IdempotencyRecord(SQLModel, table=True):
    """The response given to an ``Idempotency-Key``: a repeated request gets it again, unchanged."""

    __tablename__ = "idempotency_record"

    key: str = Field(primary_key=True, max_length=200)  # caller + the client's key
    request_hash: str = Field(max_length=64)
    status_code: int
    response: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=_ts())


class EvidenceFile(SQLModel, table=True):
    """A photo or signature (or other evidence), content-addressed, attached to an inspection or a
    rectification."""

    __tablename__ = "evidence_file"

    id: str = Field(primary_key=True, max_length=36)  # made by the client: a retried upload is the same file
    owner_kind: str = Field(max_length=20)  # inspection | rectification | case | complaint
    owner_id: str = Field(max_length=36, index=True)
    kind: str = Field(max_length=20)  # photo | signature | document
    sha256: str = Field(max_length=64)
    size: int
    content_type: str = Field(max_length=100)
    storage_key: str = Field(max_length=300)
    device_taken_at: datetime | None = Field(default=None, sa_column=_ts(True))
    latitude: float | None = None
    longitude: float | None = None
    uploaded_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())


class Finding(SQLModel, table=True):
    """问题: a ✗ item of an inspection, or a failed spot check, that needs follow-up."""

    __tablename__ = "finding"

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, index=True)
    region_code: str = Field(max_length=6, index=True)
    source: str = Field(max_length=20)  # inspection | spot_check
    source_id: str = Field(max_length=36, index=True)
    item_id: str | None = Field(default=None, max_length=20)
    description: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=20)  # open | rectifying | closed | escalated
    created_at: datetime = Field(sa_column=_ts())


class Rectification(SQLModel, table=True):
    """整改: an order to correct a finding by a deadline, the evidence, and an inspector's verification."""

    __tablename__ = "rectification"
    __table_args__ = (Index("ix_rectification_overdue", "status", "deadline"),)

    id: str = Field(primary_key=True, max_length=36)
    finding_id: str = Field(max_length=36, foreign_key="finding.id", index=True)
    enterprise_id: str = Field(max_length=36, index=True)
    region_code: str = Field(max_length=6, index=True)
    ordered_on: date
    deadline: date
    requirement: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=20)  # ordered | submitted | verified | escalated | withdrawn
    evidence_note: str | None = Field(default=None, sa_column=Column(Text))
    submitted_on: date | None = None
    verified_by: str | None = Field(default=None, max_length=100)
    verified_on: date | None = None
    verification_note: str | None = Field(default=None, sa_column=Column(Text))
    overdue_since: date | None = None  # set by the daily job when the deadline passed unverified
    ordered_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class EnforcementCase(SQLModel, table=True):
    """立案查处: a case, its outcome (警告, 罚没款, 从重) and its closing."""

    __tablename__ = "enforcement_case"

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, index=True)
    region_code: str = Field(max_length=6, index=True)
    source: str = Field(max_length=20)  # spot_check | inspection | complaint | rectification | other
    source_id: str | None = Field(default=None, max_length=36)
    cause: str = Field(sa_column=Column(Text, nullable=False))
    opened_on: date
    status: str = Field(max_length=20)  # open | closed
    warning: bool = Field(default=False)
    fine_yuan: float = Field(default=0)
    confiscated_yuan: float = Field(default=0)
    heavier: bool = Field(default=False)
    penalised: bool | None = None  # set at closing: a case may close without a penalty (不予处罚、撤案)
    decision_number: str | None = Field(default=None, max_length=100)
    closed_on: date | None = None
    opened_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class Complaint(SQLModel, table=True):
    """投诉举报: received, then verified (a trigger for an inspection and a grading signal) or unfounded."""

    __tablename__ = "complaint"

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, index=True)
    region_code: str = Field(max_length=6, index=True)
    channel: str = Field(max_length=30)  # 12315 | letter | phone | online | transferred | other
    received_on: date
    summary: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=20)  # received | verified | unfounded
    decided_on: date | None = None
    decision_note: str | None = Field(default=None, sa_column=Column(Text))
    decided_by: str | None = Field(default=None, max_length=100)
    inspection_id: str | None = Field(default=None, max_length=36)
    received_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())


class OversightAudit(SQLModel, table=True):
    """督查: an upper bureau's audit of a lower one, item by item (督查清单 1.1–7.3)."""

    __tablename__ = "oversight_audit"

    id: str = Field(primary_key=True, max_length=36)
    auditor_region: str = Field(max_length=9, index=True)
    audited_region: str = Field(max_length=9, index=True)
    template: str = Field(max_length=50)
    template_version: str = Field(max_length=20)
    period: str = Field(max_length=20)
    results: str = Field(
        default="{}", sa_column=_json("{}")
    )  # item id → {"implemented", "highlights", "note"}
    status: str = Field(max_length=20)  # draft | reported
    reported_at: datetime | None = Field(default=None, sa_column=_ts(True))
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())
