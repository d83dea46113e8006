"""What inspection consumes: the units (registry) and their supervision (grading)."""

from __future__ import annotations

from services.common.events import (
    CLASS_CHANGED,
    ENTERPRISE_REGISTERED,
    ENTERPRISE_STATUS_CHANGED,
    ENTERPRISE_UPDATED,
    INSPECTOR_ASSIGNED,
    RISK_CONTROL_LIST_ADOPTED,
)
from services.inspection import service

HANDLERS = {
    ENTERPRISE_REGISTERED: service.on_registered,
    ENTERPRISE_UPDATED: service.on_registered,
    ENTERPRISE_STATUS_CHANGED: service.on_status_changed,
    INSPECTOR_ASSIGNED: service.on_inspector_assigned,
    RISK_CONTROL_LIST_ADOPTED: service.on_risk_list_adopted,
    CLASS_CHANGED: service.on_class_changed,
}
