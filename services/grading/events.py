"""What grading consumes (its handlers); it publishes through service.py's emit calls."""

from __future__ import annotations

from typing import Any

from services.common.events import (
    CASE_CLOSED,
    COMPLAINT_VERIFIED,
    CREDIT_RISK_ASSESSED,
    ENTERPRISE_REGISTERED,
    ENTERPRISE_UPDATED,
    SPOT_CHECK_FAILED,
    SPOT_CHECK_OVERTURNED,
    EventSpec,
)
from services.common.messaging import Handler
from services.common.policy import PackSet
from services.grading.service import Handlers


def handlers(packs: PackSet) -> dict[EventSpec[Any], Handler]:
    bound = Handlers(packs)
    return {
        ENTERPRISE_REGISTERED: bound.on_registered,
        ENTERPRISE_UPDATED: bound.on_registered,
        SPOT_CHECK_FAILED: bound.on_spot_check_failed,
        SPOT_CHECK_OVERTURNED: bound.on_spot_check_overturned,
        CREDIT_RISK_ASSESSED: bound.on_credit_assessed,
        CASE_CLOSED: bound.on_case_closed,
        COMPLAINT_VERIFIED: bound.on_complaint_verified,
    }
