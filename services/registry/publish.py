"""What registry publishes about a unit's record (registered, updated, status changed), through the outbox.

It imports nothing of registry's logic, so the ledger's service (and anything else) can publish through it;
the handlers of what registry consumes are in events.py.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.events import (
    ENTERPRISE_REGISTERED,
    ENTERPRISE_STATUS_CHANGED,
    ENTERPRISE_UPDATED,
    EnterpriseRegistered,
    EnterpriseStatusChanged,
)
from services.common.messaging import emit
from services.registry.models import Enterprise, StatusChange


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
