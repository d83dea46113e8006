"""What inspection consumes: the units (registry) and their supervision (grading), one row per unit, applied
set-based (services.common.projection)."""

from __future__ import annotations

from services.common.events import (
    CLASS_CHANGED,
    ENTERPRISE_REGISTERED,
    ENTERPRISE_STATUS_CHANGED,
    ENTERPRISE_UPDATED,
    INSPECTOR_ASSIGNED,
    RISK_CONTROL_LIST_ADOPTED,
)
from services.common.projection import by_unit
from services.inspection import service
from services.inspection.models import KnownEnterprise

HANDLERS = by_unit(
    KnownEnterprise,
    {
        ENTERPRISE_REGISTERED: service.on_registered,
        ENTERPRISE_UPDATED: service.on_registered,
        ENTERPRISE_STATUS_CHANGED: service.on_status_changed,
        INSPECTOR_ASSIGNED: service.on_inspector_assigned,
        RISK_CONTROL_LIST_ADOPTED: service.on_risk_list_adopted,
        CLASS_CHANGED: service.on_class_changed,
    },
    new_row=service.new_unit,
)
