"""Reporting: read models kept from every event, and the summary of a jurisdiction."""

from __future__ import annotations

from typing import Any

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


def new_unit(event: CloudEvent, payload: Any) -> dict[str, Any]:
    """A unit's row, made by whichever event names it first."""
    return {
        "enterprise_id": payload.enterprise_id,
        "region_code": event.region,
        "registered": False,
        "supervision_class": "routine",
        "failed_spot_checks": 0,
        "updated_at": utcnow(),
    }


async def on_registered(
    session: AsyncSession, row: ReportedEnterprise, event: CloudEvent, payload: EnterpriseRegistered
) -> None:
    row.registered, row.kind, row.region_code = True, payload.kind, payload.region_code
    row.updated_at = utcnow()


async def on_tier_assigned(
    session: AsyncSession, row: ReportedEnterprise, event: CloudEvent, payload: TierAssigned
) -> None:
    row.tier, row.updated_at = payload.tier, utcnow()


async def on_class_changed(
    session: AsyncSession, row: ReportedEnterprise, event: CloudEvent, payload: ClassChanged
) -> None:
    row.supervision_class, row.updated_at = payload.to_class, utcnow()


async def on_spot_check_failed(
    session: AsyncSession, row: ReportedEnterprise, event: CloudEvent, payload: SpotCheckRecorded
) -> None:
    row.failed_spot_checks, row.updated_at = row.failed_spot_checks + 1, utcnow()


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
