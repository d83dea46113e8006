"""Plain rules of on-site inspections: the order a batch is applied in, checklist completeness, findings, dates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from services.common.db import CHINA, as_utc
from services.inspection.visits.schemas import BaseOperation


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
