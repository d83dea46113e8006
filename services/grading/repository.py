"""Every grading query; reads are scoped by the caller's jurisdiction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.pagination import keyset
from services.common.regions import prefix_of
from services.grading.models import GradedEnterprise, RiskSignal


def readable(caller: Caller):  # type: ignore[no-untyped-def]
    return select(GradedEnterprise).where(
        GradedEnterprise.region_code.startswith(prefix_of(caller.region_code))  # type: ignore[attr-defined]
    )


async def get_readable(session: AsyncSession, caller: Caller, enterprise_id: str) -> GradedEnterprise | None:
    stmt = readable(caller).where(GradedEnterprise.enterprise_id == enterprise_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_readable(
    session: AsyncSession,
    caller: Caller,
    *,
    tier: str | None,
    supervision_class: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[GradedEnterprise], str | None]:
    stmt = readable(caller)
    if tier:
        stmt = stmt.where(GradedEnterprise.tier == tier)
    if supervision_class:
        stmt = stmt.where(GradedEnterprise.supervision_class == supervision_class)
    return await keyset(session, stmt, GradedEnterprise.enterprise_id, cursor=cursor, limit=limit)  # type: ignore[arg-type]


async def signals_of(session: AsyncSession, enterprise_id: str) -> Sequence[RiskSignal]:
    stmt = (
        select(RiskSignal)
        .where(RiskSignal.enterprise_id == enterprise_id)
        .order_by(
            RiskSignal.occurred_on,
            RiskSignal.id,  # type: ignore[arg-type]
        )
    )
    return (await session.execute(stmt)).scalars().all()
