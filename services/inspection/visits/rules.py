"""Plain rules of on-site inspections: the order a batch is applied in, checklist completeness, findings, dates,
and the inspection a plan, a complaint or a phone makes, with its checklist frozen."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from services.common.db import CHINA, as_utc, utcnow
from services.inspection import checklists
from services.inspection.models import Inspection, KnownEnterprise
from services.inspection.visits.schemas import BaseOperation


def loads(text: str | None, default: Any) -> Any:
    return json.loads(text) if text else default


def inspectors_of(row: Any) -> list[str]:
    """The inspectors of an inspection (a row, or a batch's copy of one)."""
    return list(loads(row.inspectors, []))


def freeze(row: Any, unit: KnownEnterprise) -> None:
    """The unit's checklist as it is today, kept with the inspection (later template versions do not
    change an inspection already made)."""
    name, version, items = checklists.build_checklist(
        unit.kind, loads(unit.risk_points, []), region_code=unit.region_code
    )
    row.template, row.template_version = name, version
    row.checklist = json.dumps(items, ensure_ascii=False)


def planned_inspection(
    *,
    unit: KnownEnterprise,
    inspectors: list[str],
    created_by: str,
    trigger: str = "plan",
    trigger_ref: str | None = None,
    plan_id: str | None = None,
    inspection_id: str | None = None,
) -> Inspection:
    """A planned inspection of ``unit`` for ``inspectors``, with its checklist frozen (not yet stored); raises
    the checklist's error (409) for a unit whose kind registry has not announced yet."""
    now = utcnow()
    row = Inspection(
        id=inspection_id or str(uuid.uuid4()),
        enterprise_id=unit.id,
        region_code=unit.region_code,
        plan_id=plan_id,
        trigger=trigger,
        trigger_ref=trigger_ref,
        template="",
        template_version="",
        status="planned",
        inspectors=json.dumps(list(dict.fromkeys(inspectors)), ensure_ascii=False),
        version=1,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    freeze(row, unit)
    return row


def order_operations(operations: Sequence[BaseOperation]) -> list[BaseOperation]:
    """The order to apply a batch in: each device's operations by its sequence number, devices in the
    order they first appear (a stable sort, so equal numbers keep their order)."""
    first_seen: dict[str, int] = {}
    for op in operations:
        first_seen.setdefault(op.device_id, len(first_seen))
    return sorted(operations, key=lambda op: (first_seen[op.device_id], op.device_seq))


def unknown_items(checklist: list[dict[str, Any]], results: dict[str, Any]) -> list[str]:
    ids = {item["id"] for item in checklist}
    return sorted(item_id for item_id in results if item_id not in ids)


def missing_items(checklist: list[dict[str, Any]], results: dict[str, Any]) -> list[str]:
    """监管任务清单: every item is answered (✓, ✗, not applicable or waived) before submission."""
    return [item["id"] for item in checklist if item["id"] not in results]


def failed_items(checklist: list[dict[str, Any]], results: dict[str, Any]) -> dict[str, str]:
    """Each ✗ item and the description of its finding (the note, else the item's text), checklist order."""
    failed: dict[str, str] = {}
    for item in checklist:
        answer = results.get(item["id"])
        if answer and answer.get("result") == "fail":
            failed[item["id"]] = (answer.get("note") or "").strip() or f"{item['id']} {item.get('text', '')}"
    return failed


def visit_date(device_started_at: datetime | None, device_time: datetime, received_at: datetime) -> date:
    """The day of the visit in Beijing time as the phone recorded it; a phone clock ahead of the server's
    cannot date a visit after the day it reached us."""
    visited = as_utc(device_started_at or device_time).astimezone(CHINA).date()
    return min(visited, as_utc(received_at).astimezone(CHINA).date())
