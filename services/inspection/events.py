"""What inspection consumes; it publishes through service.py's emit calls."""

from __future__ import annotations

from services.common.events import ENTERPRISE_REGISTERED
from services.inspection import service

HANDLERS = {ENTERPRISE_REGISTERED: service.on_registered}
