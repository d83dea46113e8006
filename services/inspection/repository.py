"""Every inspection query; reads are scoped by the caller's jurisdiction.

A regulator sees what lies in its region (prefix of the region code); a station (9-digit code) the units it
is responsible for; an enterprise account its own unit only (by USCC). Tables that carry a unit's
``region_code`` and ``enterprise_id`` are scoped with ``visible(caller, Table)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.json_rows import decode, dialect_of, json_rows, scope_of
from services.common.regions import level_of, prefix_of
from services.inspection.models import (
    EvidenceFile,
    Finding,
    Inspection,
    InspectionRevision,
    KnownEnterprise,
    SpotCheck,
)


def _station(caller: Caller) -> bool:
    return caller.is_regulator and level_of(caller.region_code) == "station"


def enterprises_visible(caller: Caller):  # type: ignore[no-untyped-def]
    """The condition on KnownEnterprise: the units the caller may see."""
    if not caller.is_regulator:
        return KnownEnterprise.uscc == (caller.uscc or "")
    if _station(caller):
        return KnownEnterprise.station_code == caller.region_code
    return KnownEnterprise.region_code.startswith(prefix_of(caller.region_code))  # type: ignore[attr-defined]


def visible(caller: Caller, table: Any):  # type: ignore[no-untyped-def]
    """The condition on a table with ``region_code`` and ``enterprise_id``: rows of units the caller sees."""
    if caller.is_regulator and not _station(caller):
        return table.region_code.startswith(prefix_of(caller.region_code))
    return table.enterprise_id.in_(select(KnownEnterprise.id).where(enterprises_visible(caller)))


def within_region(caller: Caller, region_code: str) -> bool:
    """Whether a regulator's jurisdiction contains ``region_code`` (a station: its own county)."""
    if not caller.is_regulator:
        return False
    if _station(caller):
        return region_code.startswith(caller.region_code[:6])
    return caller.can_see(region_code)


async def get_readable_enterprise(
    session: AsyncSession, caller: Caller, enterprise_id: str
) -> KnownEnterprise | None:
    stmt = select(KnownEnterprise).where(KnownEnterprise.id == enterprise_id, enterprises_visible(caller))
    return (await session.execute(stmt)).scalar_one_or_none()


async def readable_enterprise_ids(
    session: AsyncSession, caller: Caller, enterprise_ids: set[str]
) -> set[str]:
    stmt = select(KnownEnterprise.id).where(
        KnownEnterprise.id.in_(enterprise_ids), enterprises_visible(caller)
    )  # type: ignore[attr-defined]
    return set(await session.scalars(stmt))


async def get_readable_spot_check(
    session: AsyncSession, caller: Caller, spot_check_id: str
) -> SpotCheck | None:
    stmt = select(SpotCheck).where(SpotCheck.id == spot_check_id, visible(caller, SpotCheck))
    return (await session.execute(stmt)).scalar_one_or_none()


_FINDING = Finding.__table__.c  # type: ignore[attr-defined]
_EVIDENCE = EvidenceFile.__table__.c  # type: ignore[attr-defined]
_REVISION = InspectionRevision.__table__.c  # type: ignore[attr-defined]
# What an inspection's detail shows of each (FindingBrief, EvidencePublic).
FINDING_COLUMNS = [_FINDING.id, _FINDING.item_id, _FINDING.description, _FINDING.status]
EVIDENCE_COLUMNS = [
    getattr(_EVIDENCE, name)
    for name in (
        "id",
        "kind",
        "content_type",
        "size",
        "sha256",
        "device_taken_at",
        "latitude",
        "longitude",
        "uploaded_by",
        "created_at",
    )
]


@dataclass(frozen=True)
class InspectionRecord:
    """An inspection with its findings, its evidence and the number of its revisions, read in one statement."""

    inspection: Any  # a Row of the inspection table: the columns by name, as attributes
    findings: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    revisions: int


@lru_cache(maxsize=1024)
def inspection_statement(dialect: str, scope: Caller) -> Select[Any]:
    """The inspection ``:inspection_id`` (if a caller of ``scope`` may see it) with its findings, evidence and
    revision count, as one SELECT."""
    inspection = Inspection.__table__  # type: ignore[attr-defined]
    findings = json_rows(
        dialect,
        FINDING_COLUMNS,
        where=(_FINDING.source == "inspection") & (_FINDING.source_id == inspection.c.id),
        order_by=[_FINDING.id],
    )
    evidence = json_rows(
        dialect,
        EVIDENCE_COLUMNS,
        where=(_EVIDENCE.owner_kind == "inspection") & (_EVIDENCE.owner_id == inspection.c.id),
        order_by=[_EVIDENCE.created_at, _EVIDENCE.id],
    )
    revisions = select(func.count()).where(_REVISION.inspection_id == inspection.c.id).scalar_subquery()
    return select(
        inspection,
        findings.label("findings_"),
        evidence.label("evidence_"),
        revisions.label("revisions_"),
    ).where(inspection.c.id == bindparam("inspection_id"), visible(scope, Inspection))


async def get_readable_inspection(
    session: AsyncSession, caller: Caller, inspection_id: str
) -> InspectionRecord | None:
    stmt = inspection_statement(dialect_of(session), scope_of(caller))
    row = (await session.execute(stmt, {"inspection_id": inspection_id})).one_or_none()
    if row is None:
        return None
    return InspectionRecord(
        inspection=row,
        findings=decode(FINDING_COLUMNS, row.findings_),
        evidence=decode(EVIDENCE_COLUMNS, row.evidence_),
        revisions=row.revisions_,
    )
