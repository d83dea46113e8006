"""What exam consumes: registry's units (one row each, set-based through services.common.projection) and its
quality directors and officers (one upsert per batch)."""

from __future__ import annotations

from services.common.events import (
    ENTERPRISE_REGISTERED,
    ENTERPRISE_STATUS_CHANGED,
    ENTERPRISE_UPDATED,
    EXAM_SITTING_SUBMITTED,
    MANAGER_APPOINTED,
    MANAGER_DISQUALIFIED,
    MANAGER_REMOVED,
)
from services.common.messaging import Batched
from services.common.projection import by_unit
from services.exam import service
from services.exam.models import ExamUnit
from services.exam.results import service as results

_MANAGERS = Batched(service.apply_manager_events)

HANDLERS = {
    **by_unit(
        ExamUnit,
        {
            ENTERPRISE_REGISTERED: service.on_registered,
            ENTERPRISE_UPDATED: service.on_registered,
            ENTERPRISE_STATUS_CHANGED: service.on_status_changed,
        },
        new_row=service.new_unit,
    ),
    MANAGER_APPOINTED: _MANAGERS,
    MANAGER_REMOVED: _MANAGERS,
    MANAGER_DISQUALIFIED: _MANAGERS,
    # A sitting submitted after its plan's results were published is published at once.
    EXAM_SITTING_SUBMITTED: Batched(results.on_sittings_submitted),
}
