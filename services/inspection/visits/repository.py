"""Every query of on-site inspections; reads are scoped with ``services.inspection.repository.visible``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Row, RowMapping, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.pagination import keyset_sorted
from services.inspection import repository
from services.inspection.models import (
    Complaint,
    EvidenceFile,
    Finding,
    IdempotencyRecord,
    Inspection,
    InspectionRevision,
    KnownEnterprise,
    Rectification,
)

ACTIVE = ("planned", "in_progress")


# ------------------------------------------------------------------------------------------- a phone's batch

_INSPECTION = Inspection.__table__
_FINDING = Finding.__table__
_REVISION = InspectionRevision.__table__


async def inspections_for_batch(session: AsyncSession, caller: Caller, ids: list[str]) -> list[RowMapping]:
    """The inspections of ``ids`` that exist, every column and ``visible`` (whether the caller may see it);
    locked for the transaction on PostgreSQL, in id order so that two batches cannot deadlock."""
    if not ids:
        return []
    stmt = (
        select(_INSPECTION, repository.visible(caller, Inspection).label("visible"))
        .where(_INSPECTION.c.id.in_(ids))
        .order_by(_INSPECTION.c.id)
        .with_for_update(of=_INSPECTION)
    )
    return list((await session.execute(stmt)).mappings())


async def revisions_of(session: AsyncSession, ids: list[str]) -> list[Row[Any]]:
    """(inspection_id, device_id, device_seq, version, body) of every revision of the inspections ``ids``."""
    stmt = select(
        _REVISION.c.inspection_id,
        _REVISION.c.device_id,
        _REVISION.c.device_seq,
        _REVISION.c.version,
        _REVISION.c.body,
    ).where(_REVISION.c.inspection_id.in_(ids))
    return list((await session.execute(stmt)).all())


async def inspection_findings(session: AsyncSession, ids: list[str]) -> list[RowMapping]:
    stmt = (
        select(_FINDING)
        .where(_FINDING.c.source == "inspection", _FINDING.c.source_id.in_(ids))
        .order_by(_FINDING.c.id)
    )
    return list((await session.execute(stmt)).mappings())


async def rectified(session: AsyncSession, finding_ids: list[str]) -> set[str]:
    """Those of ``finding_ids`` somebody has ordered a rectification of."""
    stmt = select(Rectification.finding_id).where(Rectification.finding_id.in_(finding_ids)).distinct()  # type: ignore[attr-defined]
    return set((await session.execute(stmt)).scalars())


async def readable_units(session: AsyncSession, caller: Caller, ids: set[str]) -> dict[str, KnownEnterprise]:
    stmt = select(KnownEnterprise).where(
        KnownEnterprise.id.in_(ids),  # type: ignore[attr-defined]
        repository.enterprises_visible(caller),
    )
    return {unit.id: unit for unit in (await session.execute(stmt)).scalars()}


async def complaints(session: AsyncSession, ids: set[str]) -> dict[str, Complaint]:
    stmt = select(Complaint).where(Complaint.id.in_(ids))  # type: ignore[attr-defined]
    return {complaint.id: complaint for complaint in (await session.execute(stmt)).scalars()}


async def insert_inspections(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(_INSPECTION), rows)


async def update_inspections(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Each row: ``_id`` and the new values of the same columns."""
    if rows:
        await session.execute(update(_INSPECTION).where(_INSPECTION.c.id == bindparam("_id")), rows)


async def insert_findings(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(_FINDING), rows)


async def update_findings(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(update(_FINDING).where(_FINDING.c.id == bindparam("_id")), rows)


async def insert_revisions(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(_REVISION), rows)


# ------------------------------------------------------------------------------------------------ reads


async def get_readable(session: AsyncSession, caller: Caller, inspection_id: str) -> Inspection | None:
    stmt = select(Inspection).where(Inspection.id == inspection_id, repository.visible(caller, Inspection))
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_unit(session: AsyncSession, enterprise_id: str) -> KnownEnterprise | None:
    return await session.get(KnownEnterprise, enterprise_id)


async def findings_of(session: AsyncSession, inspection_id: str) -> list[Finding]:
    stmt = (
        select(Finding)
        .where(Finding.source == "inspection", Finding.source_id == inspection_id)
        .order_by(Finding.id)
    )
    return list((await session.execute(stmt)).scalars())


async def evidence_of(session: AsyncSession, inspection_id: str) -> list[EvidenceFile]:
    stmt = (
        select(EvidenceFile)
        .where(EvidenceFile.owner_kind == "inspection", EvidenceFile.owner_id == inspection_id)
        .order_by(EvidenceFile.created_at, EvidenceFile.id)
    )
    return list((await session.execute(stmt)).scalars())


async def revision_count(session: AsyncSession, inspection_id: str) -> int:
    stmt = (
        select(func.count())
        .select_from(InspectionRevision)
        .where(InspectionRevision.inspection_id == inspection_id)
    )
    return (await session.execute(stmt)).scalar_one()


async def assigned(session: AsyncSession, caller: Caller) -> list[tuple[Inspection, KnownEnterprise | None]]:
    """The planned and in-progress inspections the caller is one of the inspectors of, with their units."""
    stmt = (
        select(Inspection, KnownEnterprise)
        .join(KnownEnterprise, KnownEnterprise.id == Inspection.enterprise_id, isouter=True)
        .where(
            repository.visible(caller, Inspection),
            Inspection.status.in_(ACTIVE),  # type: ignore[attr-defined]
            Inspection.inspectors.contains(json.dumps(caller.username, ensure_ascii=False), autoescape=True),  # type: ignore[attr-defined]
        )
        .order_by(Inspection.created_at, Inspection.id)
    )
    return [(r, u) for r, u in (await session.execute(stmt)).all()]


async def list_readable(
    session: AsyncSession,
    caller: Caller,
    *,
    status: str | None,
    enterprise_id: str | None,
    trigger: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Inspection], str | None]:
    """A page of the inspections the caller sees, newest first."""
    stmt = select(Inspection).where(repository.visible(caller, Inspection))
    for column, value in (
        (Inspection.status, status),
        (Inspection.enterprise_id, enterprise_id),
        (Inspection.trigger, trigger),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    rows, next_cursor = await keyset_sorted(
        session,
        stmt,
        Inspection.created_at,  # type: ignore[arg-type]
        Inspection.id,  # type: ignore[arg-type]
        descending=True,
        cursor=cursor,
        limit=limit,
    )
    return list(rows), next_cursor


async def get_idempotency_record(session: AsyncSession, key: str) -> IdempotencyRecord | None:
    return await session.get(IdempotencyRecord, key)


async def delete_idempotency_records(session: AsyncSession, before: datetime) -> int:
    result: Any = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < before)
    )  # type: ignore[arg-type]
    return result.rowcount or 0
