"""Grading: keeps each unit's tier and supervision class true as events arrive, with the reasons."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import utcnow
from services.common.events import (
    CLASS_CHANGED,
    TIER_ASSIGNED,
    ClassChanged,
    ClassReason,
    CloudEvent,
    EnterpriseRegistered,
    SpotCheckRecorded,
    TierAssigned,
)
from services.common.messaging import emit
from services.grading import repository
from services.grading.classes import ROUTINE, Signal, decide_class
from services.grading.models import GradedEnterprise, RiskSignal
from services.grading.tiering import assign_tier


async def _enterprise(session: AsyncSession, enterprise_id: str, region_code: str) -> GradedEnterprise:
    """The unit's row; created from the first event that names it, whichever stream that came from."""
    row = await session.get(GradedEnterprise, enterprise_id)
    if row is None:
        row = GradedEnterprise(
            enterprise_id=enterprise_id,
            region_code=region_code,
            updated_at=utcnow(),
            class_reason=ROUTINE.text,
        )
        session.add(row)
    return row


async def on_registered(session: AsyncSession, event: CloudEvent, payload: EnterpriseRegistered) -> None:
    row = await _enterprise(session, payload.enterprise_id, payload.region_code)
    row.region_code = payload.region_code
    row.name, row.kind, row.sales_channel = payload.name, payload.kind, payload.sales_channel
    row.employees, row.revenue_wan_yuan = payload.employees, payload.revenue_wan_yuan
    decision = assign_tier(payload.kind, payload.sales_channel, payload.employees, payload.revenue_wan_yuan)
    previous = row.tier
    row.tier, row.tier_rule, row.tier_reason = decision.tier, decision.rule, decision.reason
    row.updated_at = utcnow()
    if previous != decision.tier:
        emit(
            session,
            TIER_ASSIGNED,
            TierAssigned(
                enterprise_id=row.enterprise_id,
                tier=decision.tier,  # type: ignore[arg-type]
                previous_tier=previous,
                rule=decision.rule,
                reason=decision.reason,
            ),  # type: ignore[arg-type]
            region=row.region_code,
            enterprise_id=row.enterprise_id,
        )


async def on_spot_check_failed(session: AsyncSession, event: CloudEvent, payload: SpotCheckRecorded) -> None:
    """监督抽查不合格: a major quality-safety risk; the class is decided again."""
    row = await _enterprise(session, payload.enterprise_id, event.region)
    session.add(
        RiskSignal(
            id=event.id,
            enterprise_id=payload.enterprise_id,
            kind="spot_check_failed",
            occurred_on=payload.sampled_on,
            source_type=event.type,
            received_at=utcnow(),
            detail=json.dumps(
                {
                    "spot_check_id": payload.spot_check_id,
                    "product": payload.product,
                    "batch": payload.batch,
                    "failed_items": payload.failed_items,
                },
                ensure_ascii=False,
            ),
        )
    )
    await session.flush()
    await reclassify(session, row, today=utcnow().date())


async def reclassify(session: AsyncSession, row: GradedEnterprise, *, today: date) -> None:
    signals = [
        Signal(s.id, s.kind, s.occurred_on) for s in await repository.signals_of(session, row.enterprise_id)
    ]
    decision = decide_class(signals, today=today)
    previous = row.supervision_class
    row.supervision_class, row.class_rule, row.class_reason = (
        decision.supervision_class,
        decision.rule,
        decision.text,
    )
    row.class_evidence = json.dumps(decision.evidence)
    row.updated_at = utcnow()
    if previous != decision.supervision_class:
        emit(
            session,
            CLASS_CHANGED,
            ClassChanged(
                enterprise_id=row.enterprise_id,
                from_class=previous,  # type: ignore[arg-type]
                to_class=decision.supervision_class,  # type: ignore[arg-type]
                reasons=[ClassReason(rule=decision.rule, text=decision.text, evidence=decision.evidence)],
            ),
            region=row.region_code,
            enterprise_id=row.enterprise_id,
        )
