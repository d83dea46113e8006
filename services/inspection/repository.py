"""Every inspection query; reads are scoped by the caller's jurisdiction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.regions import prefix_of
from services.inspection.models import KnownEnterprise, SpotCheck


async def get_readable_enterprise(
    session: AsyncSession, caller: Caller, enterprise_id: str
) -> KnownEnterprise | None:
    row = await session.get(KnownEnterprise, enterprise_id)
    return row if row is not None and caller.can_see(row.region_code) else None


async def get_readable_spot_check(
    session: AsyncSession, caller: Caller, spot_check_id: str
) -> SpotCheck | None:
    stmt = select(SpotCheck).where(
        SpotCheck.id == spot_check_id,
        SpotCheck.region_code.startswith(prefix_of(caller.region_code)),  # type: ignore[attr-defined]
    )
    return (await session.execute(stmt)).scalar_one_or_none()
