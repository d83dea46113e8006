"""What registry consumes (its handlers): exam results, grading's decisions; it publishes through publish.py."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.events import (
    CLASS_CHANGED,
    EXAM_RESULT_PUBLISHED,
    TIER_ASSIGNED,
    ClassChanged,
    CloudEvent,
    TierAssigned,
)
from services.registry import people
from services.registry.models import Enterprise

log = logging.getLogger(__name__)


async def _known(session: AsyncSession, event: CloudEvent, enterprise_id: str) -> Enterprise | None:
    enterprise = await session.get(Enterprise, enterprise_id)
    if enterprise is None:  # grading may know units entered before this ledger existed
        log.warning("registry: %s %s for unknown unit %s ignored", event.type, event.id, enterprise_id)
    return enterprise


async def on_class_changed(session: AsyncSession, event: CloudEvent, payload: ClassChanged) -> None:
    """Grading's class and locking, kept for search (锁定的单位、重点/特别监管)."""
    enterprise = await _known(session, event, payload.enterprise_id)
    if enterprise is not None:
        enterprise.supervision_class = payload.to_class
        enterprise.locked = payload.locked


async def on_tier_assigned(session: AsyncSession, event: CloudEvent, payload: TierAssigned) -> None:
    enterprise = await _known(session, event, payload.enterprise_id)
    if enterprise is not None:
        enterprise.tier = payload.tier


HANDLERS = {
    EXAM_RESULT_PUBLISHED: people.on_exam_result,
    CLASS_CHANGED: on_class_changed,
    TIER_ASSIGNED: on_tier_assigned,
}
