"""What reporting consumes: every event that changes a count, one row per unit, applied set-based."""

from __future__ import annotations

from services.common.events import (
    CLASS_CHANGED,
    ENTERPRISE_REGISTERED,
    ENTERPRISE_UPDATED,
    SPOT_CHECK_FAILED,
    TIER_ASSIGNED,
)
from services.common.projection import by_unit
from services.reporting import service
from services.reporting.models import ReportedEnterprise

HANDLERS = by_unit(
    ReportedEnterprise,
    {
        ENTERPRISE_REGISTERED: service.on_registered,
        # A snapshot: a region change (区划调整) moves the unit between jurisdictions' counts.
        ENTERPRISE_UPDATED: service.on_registered,
        TIER_ASSIGNED: service.on_tier_assigned,
        CLASS_CHANGED: service.on_class_changed,
        SPOT_CHECK_FAILED: service.on_spot_check_failed,
    },
    new_row=service.new_unit,
)
