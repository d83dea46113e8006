"""What registry publishes."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.events import ENTERPRISE_REGISTERED, EnterpriseRegistered
from services.common.messaging import emit
from services.registry.models import Enterprise


def registered(session: AsyncSession, enterprise: Enterprise) -> None:
    emit(
        session,
        ENTERPRISE_REGISTERED,
        EnterpriseRegistered(
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
        ),
        region=enterprise.region_code,
        enterprise_id=enterprise.id,
    )


HANDLERS: dict = {}
