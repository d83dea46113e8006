"""What an import writes, as plain rows for bulk statements: a new unit, its audit entry, its event.

Pure functions over the parser's ``Entry``; they build the same rows as ``service.register``,
``audit.record`` and ``messaging.emit`` write one at a time, at a fraction of the cost per row (no ORM
objects, one JSON encoder for every audit entry).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from services.common.auth import Caller
from services.common.events import EnterpriseRegistered, EventSpec, make_event
from services.registry.models import Enterprise
from services.registry.transfer.parser import Entry

# A new unit's columns that the sheet does not give (as the table's defaults: what service.register writes).
NEW_UNIT_DEFAULTS: dict[str, Any] = {
    "operating_status": "normal",
    "status_effective_on": None,
    "status_reason": None,
    "tier": None,
    "supervision_class": "routine",
    "locked": False,
    "responsible_inspector": None,
    "responsible_inspector_name": None,
    "has_quality_director": False,
    "has_risk_control_list": False,
    "self_check_overdue_since": None,
    "version": 1,
}
_NOT_IN_SNAPSHOT = frozenset({"created_at", "updated_at", "version"})
# The fields of service.snapshot in audit.diff's order (sorted by name).
_SNAPSHOT_ORDER = sorted(
    {c.name for c in Enterprise.__table__.columns} - _NOT_IN_SNAPSHOT  # type: ignore[attr-defined]
    | {"product_categories", "certificates", "sites"}
)
_REDACTED = "（已变更，内容受保护）"  # as audit.diff shows a changed *_enc field
_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode  # audit.record's json.dumps, made once


def cert_snapshot(cert: dict[str, Any]) -> dict[str, Any]:
    return {
        key: str(cert[key]) if isinstance(cert[key], date) else cert[key]
        for key in ("kind", "number", "category_code", "valid_from", "valid_until")
    }


def cert_key(cert: dict[str, Any]) -> tuple[str, str]:
    return cert["kind"], cert["number"]


def new_unit(
    entry: Entry, *, unit_id: str, phone_enc: str | None, caller: Caller, now: datetime
) -> dict[str, Any]:
    """The ``enterprise`` row of a unit entered by import."""
    return {
        "id": unit_id,
        **entry.columns,
        "principal_phone_enc": phone_enc,
        "entry_path": "import",
        **NEW_UNIT_DEFAULTS,
        "created_by": caller.username,
        "created_at": now,
        "updated_at": now,
    }


def registered_changes(
    unit: dict[str, Any], categories: list[str], certificates: list[dict[str, Any]]
) -> str:
    """The audit ``changes`` of a new unit as JSON: ``audit.diff({}, service.snapshot(unit))`` — every field
    that is set, as ``[null, value]`` by name, personal data redacted — built straight from the row."""
    changes: dict[str, list[Any]] = {}
    for key in _SNAPSHOT_ORDER:
        if key == "product_categories":
            changes[key] = [None, categories]
        elif key == "certificates":
            changes[key] = [None, [cert_snapshot(c) for c in certificates]]
        elif key == "sites":
            changes[key] = [None, []]
        elif (value := unit.get(key)) is not None:
            if key.endswith("_enc"):
                changes[key.removesuffix("_enc")] = [None, _REDACTED]
            else:
                changes[key] = [None, value.isoformat() if isinstance(value, date) else value]
    return _encode(changes)


def audit_row(
    caller: Caller,
    enterprise_id: str,
    action: str,
    changes: str | dict[str, Any],
    reason: str,
    now: datetime,
    *,
    entry_id: str,
) -> dict[str, Any]:
    """An ``audit_entry`` row as ``audit.record`` writes it (``changes`` as JSON, or a dict to encode)."""
    return {
        "id": entry_id,
        "enterprise_id": enterprise_id,
        "entity": "enterprise",
        "entity_id": enterprise_id,
        "action": action,
        "actor": caller.username,
        "actor_role": caller.role,
        "at": now,
        "changes": changes if isinstance(changes, str) else _encode(changes),
        "reason": reason,
    }


def outbox_row(spec: EventSpec[Any], unit: dict[str, Any], categories: list[str]) -> dict[str, Any]:
    """An ``outbox`` row as ``messaging.emit`` writes it: the unit's full snapshot as a CloudEvent."""
    payload = EnterpriseRegistered(
        enterprise_id=unit["id"],
        uscc=unit["uscc"],
        name=unit["name"],
        kind=unit["kind"],
        sales_channel=unit["sales_channel"],
        region_code=unit["region_code"],
        employees=unit["employees"],
        revenue_wan_yuan=unit["revenue_wan_yuan"],
        entry_reason=unit["entry_reason"],
        operating_status=unit["operating_status"],
        station_code=unit["station_code"],
        size_year=unit["size_year"],
        product_categories=categories,
    )
    event = make_event(spec, payload, region=unit["region_code"], enterprise_id=unit["id"])
    return {
        "event_id": event.id,
        "subject": spec.subject,
        "type": spec.type,
        "body": event.model_dump_json(),
        "created_at": event.time,
    }
