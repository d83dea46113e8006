"""Registry tables: the ledger (台账) of units and everything kept about their own duty system.

JSON columns are stored as text so that SQLite and PostgreSQL hold the same thing. Personal data (ID
numbers, phones) is stored encrypted (``*_enc``) with a keyed hash (``*_hash``) for lookups; see ``pii.py``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, DateTime, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def _ts(nullable: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), nullable=nullable)


class Enterprise(SQLModel, table=True):
    """台账: one production or sales unit."""

    __tablename__ = "enterprise"
    __table_args__ = (
        Index("ix_enterprise_region_id", "region_code", "id"),
        Index("ix_enterprise_region_name", "region_code", "name", "id"),
        Index("ix_enterprise_station", "station_code", "id"),
        # 检索 (search.py): city/province lists by name or by last change; an inspector's own units; and
        # dashboard counts of a region by class, tier, status, lock and missing duties from the index alone.
        Index("ix_enterprise_name", "name", "id"),
        Index(
            "ix_enterprise_dashboard",
            "region_code",
            "supervision_class",
            "tier",
            "operating_status",
            "locked",
            postgresql_include=["has_quality_director", "has_risk_control_list"],
        ),
        Index("ix_enterprise_updated", "updated_at", "id"),
        Index(
            "ix_enterprise_inspector",
            "responsible_inspector",
            "id",
            postgresql_where=text("responsible_inspector IS NOT NULL"),
            sqlite_where=text("responsible_inspector IS NOT NULL"),
        ),
        # Name search on PostgreSQL: a GIN index of the name's character bigrams (function in the migration);
        # pg_trgm cannot serve the two-character words most searches are (阀门, 电线).
        Index(
            "ix_enterprise_name_bigrams", text("registry_name_bigrams(name)"), postgresql_using="gin"
        ).ddl_if(dialect="postgresql"),
    )

    id: str = Field(primary_key=True, max_length=36)
    uscc: str = Field(max_length=18, unique=True)
    name: str = Field(max_length=200)
    # The unit's main kind; a producer that also sells names its channel (``sales_channel``).
    kind: str = Field(max_length=20)
    sales_channel: str | None = Field(default=None, max_length=20)
    region_code: str = Field(max_length=6, index=True)
    station_code: str | None = Field(default=None, max_length=9)
    registered_address: str | None = Field(default=None, max_length=300)
    principal_name: str | None = Field(default=None, max_length=50)
    principal_phone_enc: str | None = Field(default=None, sa_column=Column(Text))
    employees: int
    revenue_wan_yuan: float
    size_year: int | None = None
    entry_reason: str = Field(max_length=40)
    entry_note: str | None = Field(default=None, max_length=500)
    entry_path: str = Field(default="regulator", max_length=20)  # regulator | enterprise | import
    operating_status: str = Field(default="normal", max_length=30, index=True)
    status_effective_on: date | None = None
    status_reason: str | None = Field(default=None, max_length=500)
    # What other services decide about the unit, kept here for search (from grading's events).
    tier: str | None = Field(default=None, max_length=1, index=True)
    supervision_class: str = Field(default="routine", max_length=20, index=True)
    locked: bool = Field(default=False)
    # 监管责任人: the named inspector (username) and since when.
    responsible_inspector: str | None = Field(default=None, max_length=100)
    responsible_inspector_name: str | None = Field(default=None, max_length=50)
    # Duties kept current by the service, so that "missing duties" is an indexed filter at 1M units.
    has_quality_director: bool = Field(default=False)
    has_risk_control_list: bool = Field(default=False)
    self_check_overdue_since: date | None = Field(default=None, index=True)
    version: int = Field(default=1)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class ProductCategoryLink(SQLModel, table=True):
    """A unit's product categories (codes of ``categories.yaml``)."""

    __tablename__ = "enterprise_category"
    __table_args__ = (Index("ix_enterprise_category_code", "category_code", "enterprise_id"),)

    enterprise_id: str = Field(primary_key=True, max_length=36, foreign_key="enterprise.id")
    category_code: str = Field(primary_key=True, max_length=40)


class Certificate(SQLModel, table=True):
    """A production licence (生产许可证) or CCC certificate (强制性产品认证证书) of a unit."""

    __tablename__ = "certificate"

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, foreign_key="enterprise.id", index=True)
    kind: str = Field(max_length=20)  # production_licence | ccc
    number: str = Field(max_length=60)
    category_code: str | None = Field(default=None, max_length=40)
    valid_from: date | None = None
    valid_until: date | None = None


class ProductionSite(SQLModel, table=True):
    """生产场所: where a unit produces; may lie in another county, which may then see the unit."""

    __tablename__ = "production_site"
    __table_args__ = (Index("ix_production_site_region", "region_code", "enterprise_id"),)

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, foreign_key="enterprise.id", index=True)
    region_code: str = Field(max_length=6)
    address: str = Field(max_length=300)


class StatusChange(SQLModel, table=True):
    """One change of operating status (异常状态) with its effective date and reason."""

    __tablename__ = "status_change"

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, foreign_key="enterprise.id", index=True)
    from_status: str = Field(max_length=30)
    to_status: str = Field(max_length=30)
    effective_on: date
    reason: str = Field(max_length=500)
    recorded_by: str = Field(max_length=100)
    recorded_at: datetime = Field(sa_column=_ts())


class Submission(SQLModel, table=True):
    """An enterprise's own entry or update of its unit (企业自主填报), waiting for a station's review."""

    __tablename__ = "submission"
    __table_args__ = (Index("ix_submission_region_status", "region_code", "status"),)

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str | None = Field(default=None, max_length=36, index=True)
    uscc: str = Field(max_length=18, index=True)
    region_code: str = Field(max_length=6)
    station_code: str | None = Field(default=None, max_length=9)
    data: str = Field(sa_column=Column(Text, nullable=False))  # JSON of the ledger fields
    status: str = Field(max_length=20)  # draft | submitted | confirmed | returned | withdrawn
    submitted_by: str = Field(max_length=100)
    submitted_at: datetime | None = Field(default=None, sa_column=_ts(True))
    reviewed_by: str | None = Field(default=None, max_length=100)
    reviewed_at: datetime | None = Field(default=None, sa_column=_ts(True))
    return_reasons: str | None = Field(default=None, sa_column=Column(Text))  # JSON list
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class Manager(SQLModel, table=True):
    """质量安全总监 / 质量安全员 / 主要负责人 of a unit, from appointment to removal."""

    __tablename__ = "manager"

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, foreign_key="enterprise.id", index=True)
    role: str = Field(max_length=30)  # quality_director | quality_officer | principal
    name: str = Field(max_length=50)
    id_number_enc: str = Field(sa_column=Column(Text, nullable=False))
    id_number_hash: str = Field(max_length=64, index=True)
    phone_enc: str | None = Field(default=None, sa_column=Column(Text))
    appointed_on: date
    removed_on: date | None = None
    removal_reason: str | None = Field(default=None, max_length=500)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class PersonQualification(SQLModel, table=True):
    """考核结果 of one person (by keyed hash of the ID number): qualified, failed or disqualified."""

    __tablename__ = "person_qualification"

    id_number_hash: str = Field(primary_key=True, max_length=64)
    exam_status: str = Field(max_length=20)  # qualified | failed | disqualified
    since: date
    exam_id: str | None = Field(default=None, max_length=36)
    updated_at: datetime = Field(sa_column=_ts())


class Training(SQLModel, table=True):
    """培训记录 of a manager."""

    __tablename__ = "training"

    id: str = Field(primary_key=True, max_length=36)
    manager_id: str = Field(max_length=36, foreign_key="manager.id", index=True)
    held_on: date
    topic: str = Field(max_length=200)
    hours: float
    provider: str | None = Field(default=None, max_length=200)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())


class Attachment(SQLModel, table=True):
    """A stored file (on local disk by default), addressed by its content hash."""

    __tablename__ = "attachment"

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, foreign_key="enterprise.id", index=True)
    sha256: str = Field(max_length=64, index=True)
    size: int
    content_type: str = Field(max_length=100)
    filename: str = Field(max_length=200)
    storage_key: str = Field(max_length=300)
    uploaded_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())


class AdoptedDocument(SQLModel, table=True):
    """A document the unit adopted (总监职责、安全员守则、主要负责人职责、风险管控清单), versioned."""

    __tablename__ = "adopted_document"
    __table_args__ = (UniqueConstraint("enterprise_id", "kind", "version"),)

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, foreign_key="enterprise.id", index=True)
    kind: str = Field(max_length=30)  # director_duties | officer_code | principal_duties | risk_control_list
    version: int
    title: str = Field(max_length=200)
    adopted_on: date
    # For the risk control list: JSON list of {"point", "controls", "responsible"}.
    content: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    attachment_id: str | None = Field(default=None, max_length=36, foreign_key="attachment.id")
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())


class SelfCheck(SQLModel, table=True):
    """日管控 / 周排查 / 月调度: one record per unit, kind and period (a repeat updates it)."""

    __tablename__ = "self_check"
    __table_args__ = (UniqueConstraint("enterprise_id", "kind", "period_start"),)

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, foreign_key="enterprise.id", index=True)
    kind: str = Field(max_length=20)  # daily_control | weekly_review | monthly_dispatch
    period_start: date  # the day; the Monday of the week; the first of the month
    performed_by: str = Field(max_length=50)
    manager_id: str | None = Field(default=None, max_length=36)
    # JSON: the risk points checked with their result, hazards found, measures taken.
    content: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    zero_risk: bool = Field(default=False)
    reported_to: str | None = Field(default=None, max_length=100)
    attachment_id: str | None = Field(default=None, max_length=36)
    recorded_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class SelfCheckDuty(SQLModel, table=True):
    """The duty check's last finding for one unit and kind: overdue since when, how many periods missing.

    Kept so that SELF_CHECK_OVERDUE is announced once when a unit falls behind, not at every check."""

    __tablename__ = "self_check_duty"
    __table_args__ = (Index("ix_self_check_duty_kind_overdue", "kind", "overdue_since"),)

    enterprise_id: str = Field(primary_key=True, max_length=36, foreign_key="enterprise.id")
    kind: str = Field(primary_key=True, max_length=20)
    overdue_since: date | None = None
    missing: int = 0
    checked_on: date


class InspectorAssignment(SQLModel, table=True):
    """监管责任人 of a unit from ``effective_on``; recorded late if after the 5-working-day deadline."""

    __tablename__ = "inspector_assignment"

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36, foreign_key="enterprise.id", index=True)
    inspector: str = Field(max_length=100)
    inspector_name: str = Field(max_length=50)
    previous_inspector: str | None = Field(default=None, max_length=100)
    effective_on: date
    recorded_on: date
    deadline: date
    late: bool = Field(default=False, index=True)
    reason: str | None = Field(default=None, max_length=500)
    recorded_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=_ts())


class AuditEntry(SQLModel, table=True):
    """变更记录: who changed what of a unit or its managers, when and why."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_enterprise", "enterprise_id", "id"),)

    id: str = Field(primary_key=True, max_length=36)
    enterprise_id: str = Field(max_length=36)
    entity: str = Field(max_length=30)  # enterprise | manager | document | self_check | inspector | ...
    entity_id: str = Field(max_length=36)
    action: str = Field(max_length=30)
    actor: str = Field(max_length=100)
    actor_role: str = Field(max_length=30)
    at: datetime = Field(sa_column=_ts())
    changes: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # {"field": [old, new]}
    reason: str | None = Field(default=None, max_length=500)


class ImportJob(SQLModel, table=True):
    """One ledger import (or dry run) and its outcome; its row errors are in ``import_error``."""

    __tablename__ = "import_job"

    id: str = Field(primary_key=True, max_length=36)
    filename: str = Field(max_length=200)
    dry_run: bool
    status: str = Field(max_length=20)  # done | failed
    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    created_by: str = Field(max_length=100)
    region_code: str = Field(max_length=9)
    created_at: datetime = Field(sa_column=_ts())


class ImportRowError(SQLModel, table=True):
    """One problem of one row of an import: row number (as in the sheet), column, code, message."""

    __tablename__ = "import_error"
    __table_args__ = (Index("ix_import_error_job", "job_id", "row"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=36, foreign_key="import_job.id")
    row: int
    column: str = Field(max_length=50)
    code: str = Field(max_length=50)
    message: str = Field(max_length=500)
    uscc: str | None = Field(default=None, max_length=40)  # as written in the row, for the error sheet


class RegionChange(SQLModel, table=True):
    """A GB/T 2260 change applied to the ledger (a county merged or renamed): its units moved."""

    __tablename__ = "region_change"

    id: str = Field(primary_key=True, max_length=36)
    old_code: str = Field(max_length=6, index=True)
    new_code: str = Field(max_length=6)
    effective_on: date
    note: str = Field(max_length=500)
    units_moved: int
    applied_by: str = Field(max_length=100)
    applied_at: datetime = Field(sa_column=_ts())
