"""Reporting: read models kept from every event, and the summary of a jurisdiction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import utcnow
from services.common.events import (
    ClassChanged,
    CloudEvent,
    EnterpriseRegistered,
    SpotCheckRecorded,
    TierAssigned,
)
from services.reporting import repository
from services.reporting.models import ReportedEnterprise
from services.reporting.schemas import Summary

TIERS = ("A", "B", "C", "D")
CLASSES = ("routine", "key", "special")


async def _row(session: AsyncSession, event: CloudEvent, enterprise_id: str) -> ReportedEnterprise:
    row = await session.get(ReportedEnterprise, enterprise_id)
    if row is None:
        row = ReportedEnterprise(enterprise_id=enterprise_id, region_code=event.region, updated_at=utcnow())
        session.add(row)
    row.updated_at = utcnow()
    return row


async def on_registered(session: AsyncSession, event: CloudEvent, payload: EnterpriseRegistered) -> None:
    row = await _row(session, event, payload.enterprise_id)
    row.registered, row.kind, row.region_code = True, payload.kind, payload.region_code


async def on_tier_assigned(session: AsyncSession, event: CloudEvent, payload: TierAssigned) -> None:
    (await _row(session, event, payload.enterprise_id)).tier = payload.tier


async def on_class_changed(session: AsyncSession, event: CloudEvent, payload: ClassChanged) -> None:
    (await _row(session, event, payload.enterprise_id)).supervision_class = payload.to_class


async def on_spot_check_failed(session: AsyncSession, event: CloudEvent, payload: SpotCheckRecorded) -> None:
    (await _row(session, event, payload.enterprise_id)).failed_spot_checks += 1


async def summary(session: AsyncSession, region: str) -> Summary:
    by_kind: dict[str, int] = {"production": 0, "sales": 0}
    by_tier: dict[str, int] = dict.fromkeys((*TIERS, "unknown"), 0)
    by_class: dict[str, int] = dict.fromkeys(CLASSES, 0)
    total = failed = 0
    for kind, tier, supervision_class, units, failures in await repository.counts(session, region):
        total += units
        failed += failures
        by_kind[kind or "unknown"] = by_kind.get(kind or "unknown", 0) + units
        by_tier[tier or "unknown"] += units
        by_class[supervision_class] = by_class.get(supervision_class, 0) + units
    return Summary(
        region=region,
        enterprises=total,
        by_kind=by_kind,
        by_tier=by_tier,
        by_supervision_class=by_class,
        failed_spot_checks=failed,
    )
