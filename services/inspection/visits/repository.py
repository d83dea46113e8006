"""Every query of on-site inspections; reads are scoped with ``services.inspection.repository.visible``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
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


async def get_readable(session: AsyncSession, caller: Caller, inspection_id: str) -> Inspection | None:
    stmt = select(Inspection).where(Inspection.id == inspection_id, repository.visible(caller, Inspection))
    return (await session.execute(stmt)).scalar_one_or_none()


async def is_visible(session: AsyncSession, caller: Caller, inspection_id: str) -> bool:
    stmt = select(Inspection.id).where(Inspection.id == inspection_id, repository.visible(caller, Inspection))
    return (await session.execute(stmt)).first() is not None


async def get_for_update(session: AsyncSession, inspection_id: str) -> Inspection | None:
    stmt = select(Inspection).where(Inspection.id == inspection_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_unit(session: AsyncSession, enterprise_id: str) -> KnownEnterprise | None:
    return await session.get(KnownEnterprise, enterprise_id)


async def get_complaint(session: AsyncSession, complaint_id: str | None) -> Complaint | None:
    return await session.get(Complaint, complaint_id)


async def device_revisions_from(
    session: AsyncSession, inspection_id: str, device_id: str, device_seq: int
) -> list[tuple[int, str]]:
    """(device_seq, body) of the revisions of ``inspection_id`` made by ``device_id`` from ``device_seq`` on."""
    stmt = select(InspectionRevision.device_seq, InspectionRevision.body).where(
        InspectionRevision.inspection_id == inspection_id,
        InspectionRevision.device_id == device_id,
        InspectionRevision.device_seq >= device_seq,
    )
    return [(seq, body) for seq, body in (await session.execute(stmt)).all()]


async def changed_by_others(session: AsyncSession, inspection_id: str, device_id: str, base: int) -> bool:
    """Whether anyone but ``device_id`` (another phone, a reviewer) made a version after ``base``."""
    stmt = select(InspectionRevision.id).where(
        InspectionRevision.inspection_id == inspection_id,
        InspectionRevision.version > base,
        or_(InspectionRevision.device_id.is_(None), InspectionRevision.device_id != device_id),  # type: ignore[union-attr]
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def findings_of(session: AsyncSession, inspection_id: str) -> list[Finding]:
    stmt = (
        select(Finding)
        .where(Finding.source == "inspection", Finding.source_id == inspection_id)
        .order_by(Finding.id)
    )
    return list((await session.execute(stmt)).scalars())


async def has_rectification(session: AsyncSession, finding_id: str) -> bool:
    stmt = select(Rectification.id).where(Rectification.finding_id == finding_id).limit(1)
    return (await session.execute(stmt)).first() is not None


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
