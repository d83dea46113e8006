"""What registry consumes (its handlers): exam results, grading's decisions; it publishes through publish.py."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.events import (
    CLASS_CHANGED,
    EXAM_RESULT_PUBLISHED,
    TIER_ASSIGNED,
    ClassChanged,
    CloudEvent,
    TierAssigned,
)
from services.common.projection import by_unit
from services.registry.models import Enterprise
from services.registry.people.service import on_exam_result


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


HANDLERS = {
    EXAM_RESULT_PUBLISHED: on_exam_result,
    # Grading may know units entered before this ledger existed: those events are skipped.
    **by_unit(Enterprise, {CLASS_CHANGED: on_class_changed, TIER_ASSIGNED: on_tier_assigned}),
}
