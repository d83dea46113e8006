"""What grading consumes (its handlers); it publishes through service.py's emit calls."""

from __future__ import annotations

from services.common.events import ENTERPRISE_REGISTERED, SPOT_CHECK_FAILED
from services.grading import service

HANDLERS = {
    ENTERPRISE_REGISTERED: service.on_registered,
    SPOT_CHECK_FAILED: service.on_spot_check_failed,
}
