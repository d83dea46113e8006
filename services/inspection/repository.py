"""Every inspection query; reads are scoped by the caller's jurisdiction.

A regulator sees what lies in its region (prefix of the region code); a station (9-digit code) the units it
is responsible for; an enterprise account its own unit only (by USCC). Tables that carry a unit's
``region_code`` and ``enterprise_id`` are scoped with ``visible(caller, Table)``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.regions import level_of, prefix_of
from services.inspection.models import KnownEnterprise, SpotCheck


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
