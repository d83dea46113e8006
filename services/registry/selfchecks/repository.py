"""Every query of the self-checks: records, the status changes they are owed by, the duty check's findings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.pagination import keyset
from services.registry.models import (
    AdoptedDocument,
    Attachment,
    Enterprise,
    Manager,
    SelfCheck,
    SelfCheckDuty,
    StatusChange,
)
from services.registry.schemas import FINAL_STATUSES

# ------------------------------------------------------------------------------------------------ a unit's file


async def status_changes(session: AsyncSession, enterprise_id: str) -> Sequence[StatusChange]:
    """The unit's status changes in the order they took effect."""
    return (
        (
            await session.execute(
                select(StatusChange)
                .where(StatusChange.enterprise_id == enterprise_id)
                .order_by(StatusChange.effective_on, StatusChange.recorded_at, StatusChange.id)
            )
        )
        .scalars()
        .all()
    )


async def status_changes_of(session: AsyncSession, ids: Sequence[str]) -> Sequence[Row[Any]]:
    """(enterprise_id, effective_on, from_status, to_status) of the changes of many units, per unit in the
    order they took effect; one query."""
    return (
        await session.execute(
            select(
                StatusChange.enterprise_id,
                StatusChange.effective_on,
                StatusChange.from_status,
                StatusChange.to_status,
            )
            .where(StatusChange.enterprise_id.in_(ids))  # type: ignore[attr-defined]
            .order_by(
                StatusChange.enterprise_id,
                StatusChange.effective_on,
                StatusChange.recorded_at,
                StatusChange.id,
            )
        )
    ).all()


async def recorded(
    session: AsyncSession, enterprise_ids: Sequence[str], kind: str | None = None
) -> dict[tuple[str, str], set[date]]:
    """The periods recorded, per (unit, kind)."""
    stmt = select(SelfCheck.enterprise_id, SelfCheck.kind, SelfCheck.period_start).where(
        SelfCheck.enterprise_id.in_(enterprise_ids)  # type: ignore[attr-defined]
    )
    if kind is not None:
        stmt = stmt.where(SelfCheck.kind == kind)
    found: dict[tuple[str, str], set[date]] = defaultdict(set)
    for row in (await session.execute(stmt)).all():
        found[(row.enterprise_id, row.kind)].add(row.period_start)
    return found


async def risk_control_list(session: AsyncSession, enterprise_id: str, on: date) -> str | None:
    """The content (JSON) of the risk control list in force on ``on``, if the unit had adopted one."""
    return (
        await session.execute(
            select(AdoptedDocument.content)
            .where(
                AdoptedDocument.enterprise_id == enterprise_id,
                AdoptedDocument.kind == "risk_control_list",
                AdoptedDocument.adopted_on <= on,
            )
            .order_by(AdoptedDocument.version.desc())  # type: ignore[attr-defined]
            .limit(1)
        )
    ).scalar_one_or_none()


async def manager(session: AsyncSession, manager_id: str) -> Manager | None:
    return await session.get(Manager, manager_id)


async def attachment(session: AsyncSession, attachment_id: str) -> Attachment | None:
    return await session.get(Attachment, attachment_id)


# ------------------------------------------------------------------------------------------------ records


async def self_checks(
    session: AsyncSession,
    enterprise_id: str,
    *,
    kind: str | None,
    from_day: date | None,
    to: date | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[SelfCheck], str | None]:
    """A page of the unit's records, narrowed to a kind and to period starts from ``from_day`` to ``to``."""
    stmt = select(SelfCheck).where(SelfCheck.enterprise_id == enterprise_id)
    if kind is not None:
        stmt = stmt.where(SelfCheck.kind == kind)
    if from_day is not None:
        stmt = stmt.where(SelfCheck.period_start >= from_day)
    if to is not None:
        stmt = stmt.where(SelfCheck.period_start <= to)
    return await keyset(session, stmt, SelfCheck.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]


async def self_check(session: AsyncSession, enterprise_id: str, kind: str, start: date) -> SelfCheck | None:
    return (
        await session.execute(
            select(SelfCheck).where(
                SelfCheck.enterprise_id == enterprise_id,
                SelfCheck.kind == kind,
                SelfCheck.period_start == start,
            )
        )
    ).scalar_one_or_none()


async def lock_unit(session: AsyncSession, enterprise_id: str) -> None:
    """Serialise writers of one unit (PostgreSQL row lock); the unique constraint catches the rest."""
    await session.execute(select(Enterprise.id).where(Enterprise.id == enterprise_id).with_for_update())


# ------------------------------------------------------------------------------------------------ duties


async def duty(session: AsyncSession, enterprise_id: str, kind: str) -> SelfCheckDuty | None:
    return await session.get(SelfCheckDuty, (enterprise_id, kind))


async def other_overdue_since(session: AsyncSession, enterprise_id: str, kind: str) -> Sequence[date | None]:
    """When the unit fell behind on each of the other kinds it is behind on."""
    return (
        (
            await session.execute(
                select(SelfCheckDuty.overdue_since).where(
                    SelfCheckDuty.enterprise_id == enterprise_id,
                    SelfCheckDuty.kind != kind,
                    SelfCheckDuty.overdue_since.is_not(None),  # type: ignore[union-attr]
                )
            )
        )
        .scalars()
        .all()
    )


async def clear_closed(session: AsyncSession, today: date) -> None:
    """Units deregistered, revoked or moved out owe nothing more: they leave the overdue lists."""
    closed = select(Enterprise.id).where(Enterprise.operating_status.in_(FINAL_STATUSES))  # type: ignore[attr-defined]
    await session.execute(
        update(SelfCheckDuty)
        .where(SelfCheckDuty.enterprise_id.in_(closed), SelfCheckDuty.overdue_since.is_not(None))  # type: ignore[attr-defined,union-attr]
        .values(overdue_since=None, missing=0, checked_on=today)
    )
    await session.execute(
        update(Enterprise)
        .where(
            Enterprise.operating_status.in_(FINAL_STATUSES),
            Enterprise.self_check_overdue_since.is_not(None),
        )  # type: ignore[attr-defined,union-attr]
        .values(self_check_overdue_since=None)
    )


async def operating_units_after(session: AsyncSession, after: str, limit: int) -> Sequence[Row[Any]]:
    """The next ``limit`` units not closed, by id after ``after``: the columns the duty check needs."""
    return (
        await session.execute(
            select(
                Enterprise.id,
                Enterprise.region_code,
                Enterprise.created_at,
                Enterprise.operating_status,
                Enterprise.self_check_overdue_since,
            )
            .where(Enterprise.id > after, Enterprise.operating_status.not_in(FINAL_STATUSES))  # type: ignore[attr-defined]
            .order_by(Enterprise.id)
            .limit(limit)
        )
    ).all()


async def duties_of(session: AsyncSession, ids: Sequence[str]) -> dict[tuple[str, str], SelfCheckDuty]:
    return {
        (duty.enterprise_id, duty.kind): duty
        for duty in (
            await session.execute(select(SelfCheckDuty).where(SelfCheckDuty.enterprise_id.in_(ids)))  # type: ignore[attr-defined]
        ).scalars()
    }


async def set_overdue_since(session: AsyncSession, enterprise_id: str, since: date | None) -> None:
    await session.execute(
        update(Enterprise).where(Enterprise.id == enterprise_id).values(self_check_overdue_since=since)
    )


async def overdue_units(
    session: AsyncSession, conditions: list[Any], kind: str | None, *, cursor: str | None, limit: int
) -> tuple[Sequence[Enterprise], str | None]:
    """A page of the units (within ``conditions``, not closed) behind on any kind, or on ``kind``."""
    stmt = select(Enterprise).where(*conditions, Enterprise.operating_status.not_in(FINAL_STATUSES))  # type: ignore[attr-defined]
    if kind is None:
        stmt = stmt.where(Enterprise.self_check_overdue_since.is_not(None))  # type: ignore[union-attr]
    else:
        behind = select(SelfCheckDuty.enterprise_id).where(
            SelfCheckDuty.kind == kind,
            SelfCheckDuty.overdue_since.is_not(None),  # type: ignore[union-attr]
        )
        stmt = stmt.where(Enterprise.id.in_(behind))  # type: ignore[attr-defined]
    return await keyset(session, stmt, Enterprise.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]


async def overdue_duties(
    session: AsyncSession, enterprise_ids: Sequence[str]
) -> dict[str, list[SelfCheckDuty]]:
    """The kinds each of the units is behind on, in kind order."""
    duties: dict[str, list[SelfCheckDuty]] = defaultdict(list)
    rows = (
        await session.execute(
            select(SelfCheckDuty)
            .where(
                SelfCheckDuty.enterprise_id.in_(enterprise_ids),  # type: ignore[attr-defined]
                SelfCheckDuty.overdue_since.is_not(None),  # type: ignore[union-attr]
            )
            .order_by(SelfCheckDuty.enterprise_id, SelfCheckDuty.kind)
        )
    ).scalars()
    for duty in rows:
        duties[duty.enterprise_id].append(duty)
    return duties
