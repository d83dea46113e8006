"""What registry publishes, and the handlers of what it consumes (exam results, grading's decisions)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.events import (
    CLASS_CHANGED,
    ENTERPRISE_REGISTERED,
    ENTERPRISE_STATUS_CHANGED,
    ENTERPRISE_UPDATED,
    EXAM_RESULT_PUBLISHED,
    TIER_ASSIGNED,
    ClassChanged,
    CloudEvent,
    EnterpriseRegistered,
    EnterpriseStatusChanged,
    TierAssigned,
)
from services.common.messaging import emit
from services.common.projection import by_unit
from services.registry.models import Enterprise, StatusChange

log = logging.getLogger(__name__)


def _snapshot(enterprise: Enterprise, categories: list[str]) -> EnterpriseRegistered:
    return EnterpriseRegistered(
        enterprise_id=enterprise.id,
        uscc=enterprise.uscc,
        name=enterprise.name,
        kind=enterprise.kind,  # type: ignore[arg-type]
        sales_channel=enterprise.sales_channel,  # type: ignore[arg-type]
        region_code=enterprise.region_code,
        employees=enterprise.employees,
        revenue_wan_yuan=enterprise.revenue_wan_yuan,
        entry_reason=enterprise.entry_reason,
        operating_status=enterprise.operating_status,
        station_code=enterprise.station_code,
        size_year=enterprise.size_year,
        product_categories=categories,
    )


def registered(session: AsyncSession, enterprise: Enterprise, categories: list[str]) -> None:
    emit(
        session,
        ENTERPRISE_REGISTERED,
        _snapshot(enterprise, categories),
        region=enterprise.region_code,
        enterprise_id=enterprise.id,
    )


def updated(session: AsyncSession, enterprise: Enterprise, categories: list[str]) -> None:
    """A full snapshot after any change; consumers keep the newest by event time."""
    emit(
        session,
        ENTERPRISE_UPDATED,
        _snapshot(enterprise, categories),
        region=enterprise.region_code,
        enterprise_id=enterprise.id,
    )


def status_changed(session: AsyncSession, enterprise: Enterprise, change: StatusChange) -> None:
    emit(
        session,
        ENTERPRISE_STATUS_CHANGED,
        EnterpriseStatusChanged(
            enterprise_id=enterprise.id,
            from_status=change.from_status,
            to_status=change.to_status,
            effective_on=change.effective_on,
            reason=change.reason,
        ),
        region=enterprise.region_code,
        enterprise_id=enterprise.id,
    )


async def on_class_changed(
    session: AsyncSession, enterprise: Enterprise, event: CloudEvent, payload: ClassChanged
) -> None:
    """Grading's class and locking, kept for search (锁定的单位、重点/特别监管)."""
    enterprise.supervision_class = payload.to_class
    enterprise.locked = payload.locked


async def on_tier_assigned(
    session: AsyncSession, enterprise: Enterprise, event: CloudEvent, payload: TierAssigned
) -> None:
    enterprise.tier = payload.tier


def _handlers() -> dict[Any, Any]:
    from services.registry import people  # people publishes through this module too

    return {
        EXAM_RESULT_PUBLISHED: people.on_exam_result,
        # Grading may know units entered before this ledger existed: those events are skipped.
        **by_unit(Enterprise, {CLASS_CHANGED: on_class_changed, TIER_ASSIGNED: on_tier_assigned}),
    }


HANDLERS = _handlers()
