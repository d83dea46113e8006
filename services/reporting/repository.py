"""Reporting queries, scoped by region prefix."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.regions import prefix_of
from services.reporting.models import ReportedEnterprise


async def counts(session: AsyncSession, region: str) -> list[tuple[str | None, str | None, str, int, int]]:
    """(kind, tier, supervision_class, units, failed spot checks) for registered units under ``region``."""
    stmt = (
        select(
            ReportedEnterprise.kind,
            ReportedEnterprise.tier,
            ReportedEnterprise.supervision_class,
            func.count(),
            func.coalesce(func.sum(ReportedEnterprise.failed_spot_checks), 0),
        )
        .where(ReportedEnterprise.region_code.startswith(prefix_of(region)))  # type: ignore[attr-defined]
        .where(ReportedEnterprise.registered.is_(True))  # type: ignore[attr-defined]
        .group_by(ReportedEnterprise.kind, ReportedEnterprise.tier, ReportedEnterprise.supervision_class)
    )
    return [tuple(row) for row in (await session.execute(stmt)).all()]  # type: ignore[misc]
