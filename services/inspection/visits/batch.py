"""Applying a phone's batch set-based: one read of everything the batch touches, the operations applied in
memory in the device's order, one write per table, all in one transaction.

The batch reads at once the inspections its operations name (locked on PostgreSQL; on SQLite the
transaction takes the write lock first), their revisions and findings, whether those findings have a
rectification, and the units its creations name. Each operation then works on a copy of its inspection's
state: applied, the copy becomes the state the next operation sees (and its revision is added to the
revisions read); refused, the copy is dropped and nothing of it stays. At the end the new inspections,
the changed ones, the findings and the revisions are written with one statement each, the events through
the outbox (``emit``). Two requests racing for the same inspection (on PostgreSQL a creation of the same
id, or two devices taking the same version) meet a unique constraint: the batch runs again and then finds
what the winner did.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.db import Database, as_utc
from services.common.errors import QSRError
from services.common.events import INSPECTION_SUBMITTED, InspectionSubmitted
from services.common.ids import new_id
from services.common.messaging import emit
from services.inspection.models import Complaint, KnownEnterprise
from services.inspection.visits import repository
from services.inspection.visits.rules import (
    failed_items,
    freeze,
    inspectors_of,
    loads,
    missing_items,
    planned_inspection,
    unknown_items,
    visit_date,
)
from services.inspection.visits.schemas import (
    BaseOperation,
    CreateOperation,
    ItemResult,
    OperationOutcome,
    OutcomeStatus,
    RecordOperation,
    StartOperation,
    SubmitOperation,
)

# What applying an operation may change of an inspection: the columns an update of the batch sets.
CHANGED_BY_OPERATIONS = (
    "template",
    "template_version",
    "checklist",
    "results",
    "conclusion",
    "status",
    "version",
    "device_id",
    "device_seq",
    "device_started_at",
    "device_submitted_at",
    "latitude",
    "longitude",
    "gps_accuracy_m",
    "received_at",
    "updated_at",
)
FINDING_CHANGES = ("status", "description")


class _Refused(Exception):
    """An operation that is not applied: its copy of the inspection is dropped. It keeps what the answer
    shows of the inspection as it is now (before the operation)."""

    def __init__(
        self,
        status: OutcomeStatus,
        code: str | None = None,
        message: str | None = None,
        *,
        row: Any = None,
        current_results: bool = False,
    ) -> None:
        super().__init__(code or status)
        self.status, self.code, self.message = status, code, message
        self.shown = _shown(row)
        if current_results and row is not None:
            self.shown["current_results"] = loads(row.results, {})


def _shown(row: Any) -> dict[str, Any]:
    return {"version": row.version, "inspection_status": row.status} if row is not None else {}


def _outcome(index: int, op: BaseOperation, status: OutcomeStatus, **shown: Any) -> OperationOutcome:
    return OperationOutcome(
        index=index,
        inspection_id=op.inspection_id,
        device_id=op.device_id,
        device_seq=op.device_seq,
        status=status,
        **shown,
    )


@dataclass
class _Revision:
    device_id: str | None
    device_seq: int
    version: int
    body: str


def _state(values: dict[str, Any]) -> dict[str, Any]:
    # SQLite hands back naive datetimes: every one we store is UTC.
    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in values.items()}


@dataclass
class _Batch:
    """The state of the batch's inspections as its operations apply, and what it will write."""

    rows: dict[str, SimpleNamespace] = field(default_factory=dict)  # by id, as the last operation left it
    read: dict[str, dict[str, Any]] = field(default_factory=dict)  # the existing ones, as read
    visible: dict[str, bool] = field(default_factory=dict)
    revisions: dict[str, list[_Revision]] = field(default_factory=lambda: defaultdict(list))
    new_revisions: list[dict[str, Any]] = field(default_factory=list)
    findings: dict[str, dict[str | None, SimpleNamespace]] = field(default_factory=lambda: defaultdict(dict))
    findings_read: dict[str, dict[str, Any]] = field(default_factory=dict)  # by finding id
    rectified: set[str] = field(default_factory=set)  # findings with a rectification
    units: dict[str, KnownEnterprise] = field(default_factory=dict)  # readable units named by creations
    complaints: dict[str, Complaint] = field(default_factory=dict)


@dataclass
class _Work:
    """What one operation changes besides its inspection: its findings (a copy, once touched), its events."""

    findings: dict[str | None, SimpleNamespace] | None = None
    events: list[InspectionSubmitted] = field(default_factory=list)


async def _read(session: AsyncSession, caller: Caller, ops: list[BaseOperation]) -> _Batch:
    batch = _Batch()
    ids = sorted({op.inspection_id for op in ops})
    for values in await repository.inspections_for_batch(session, caller, ids):
        state = _state({k: v for k, v in values.items() if k != "visible"})
        batch.rows[state["id"]] = SimpleNamespace(**state)
        batch.read[state["id"]] = state
        batch.visible[state["id"]] = bool(values["visible"])
    existing = list(batch.rows)
    if existing:
        for inspection_id, device_id, device_seq, version, body in await repository.revisions_of(
            session, existing
        ):
            batch.revisions[inspection_id].append(_Revision(device_id, device_seq, version, body))
        for values in await repository.inspection_findings(session, existing):
            state = _state(dict(values))
            batch.findings[state["source_id"]][state["item_id"]] = SimpleNamespace(**state)
            batch.findings_read[state["id"]] = state
        if batch.findings_read:
            batch.rectified = await repository.rectified(session, list(batch.findings_read))
    creations = [op for op in ops if isinstance(op, CreateOperation)]
    if creations:
        batch.units = await repository.readable_units(session, caller, {op.enterprise_id for op in creations})
        complaints = {op.trigger_ref for op in creations if op.trigger == "complaint" and op.trigger_ref}
        if complaints:
            batch.complaints = await repository.complaints(session, complaints)
    return batch


async def _write(session: AsyncSession, batch: _Batch) -> None:
    new = [vars(row) for inspection_id, row in batch.rows.items() if inspection_id not in batch.read]
    changed = [
        {"_id": inspection_id, **{k: getattr(row, k) for k in CHANGED_BY_OPERATIONS}}
        for inspection_id, row in batch.rows.items()
        if inspection_id in batch.read
        and any(getattr(row, k) != batch.read[inspection_id][k] for k in CHANGED_BY_OPERATIONS)
    ]
    findings = [finding for by_item in batch.findings.values() for finding in by_item.values()]
    new_findings = [vars(f) for f in findings if f.id not in batch.findings_read]
    changed_findings = [
        {"_id": f.id, **{k: getattr(f, k) for k in FINDING_CHANGES}}
        for f in findings
        if f.id in batch.findings_read
        and any(getattr(f, k) != batch.findings_read[f.id][k] for k in FINDING_CHANGES)
    ]
    await repository.insert_inspections(session, new)
    await repository.update_inspections(session, changed)
    await repository.insert_findings(session, new_findings)
    await repository.update_findings(session, changed_findings)
    await repository.insert_revisions(session, batch.new_revisions)


def _later_from_device(batch: _Batch, inspection_id: str, op: BaseOperation) -> list[dict[str, Any]] | None:
    """None if this very operation (device, number) was applied already (a re-send); otherwise the operations
    of the same device with a higher number that were applied before it arrived (late, out of order)."""
    later: list[dict[str, Any]] = []
    for revision in batch.revisions.get(inspection_id, ()):
        if revision.device_id != op.device_id or revision.device_seq < op.device_seq:
            continue
        if revision.device_seq == op.device_seq:
            return None
        later.append(json.loads(revision.body))
    return later


def _changed_by_others(batch: _Batch, inspection_id: str, device_id: str, base: int) -> bool:
    """Whether anyone but ``device_id`` (another phone, a reviewer) made a version after ``base``."""
    return any(
        r.version > base and (r.device_id is None or r.device_id != device_id)
        for r in batch.revisions.get(inspection_id, ())
    )


def _checked_results(row: Any, results: dict[str, ItemResult]) -> dict[str, Any]:
    checklist = loads(row.checklist, [])
    answers = {item_id: answer.model_dump() for item_id, answer in results.items()}
    unknown = unknown_items(checklist, answers)
    if unknown:
        raise _Refused(
            "rejected",
            "CHECKLIST_ITEM_UNKNOWN",
            f"检查清单（{row.template} {row.template_version}）中没有以下条目：{', '.join(unknown)}",
            row=row,
        )
    return {**loads(row.results, {}), **answers}


def _sync_findings(batch: _Batch, work: _Work, row: Any, now: datetime) -> int:
    """Findings of a (re-)submitted inspection: one per ✗ item, never two; an item no longer ✗ closes its
    finding while nobody has ordered a rectification of it."""
    failed = failed_items(loads(row.checklist, []), loads(row.results, {}))
    if work.findings is None:
        work.findings = {item: copy.copy(f) for item, f in batch.findings.get(row.id, {}).items()}
    existing = dict(work.findings)
    for item_id, description in failed.items():
        finding = existing.get(item_id)
        if finding is None:
            work.findings[item_id] = SimpleNamespace(
                id=new_id(),
                enterprise_id=row.enterprise_id,
                region_code=row.region_code,
                source="inspection",
                source_id=row.id,
                item_id=item_id,
                description=description,
                status="open",
                created_at=now,
            )
        elif finding.status == "open":
            finding.description = description
        elif finding.status == "closed" and finding.id not in batch.rectified:
            finding.status, finding.description = "open", description
    for item_id, finding in existing.items():
        if item_id not in failed and finding.status == "open" and finding.id not in batch.rectified:
            finding.status = "closed"
    return len(failed)


def _create(batch: _Batch, caller: Caller, op: CreateOperation, now: datetime) -> SimpleNamespace:
    unit = batch.units.get(op.enterprise_id)
    if unit is None:
        raise _Refused("rejected", "ENTERPRISE_NOT_FOUND", "单位不存在、尚未同步或不在您的管辖范围内")
    if op.trigger == "complaint":
        complaint = batch.complaints.get(op.trigger_ref or "")
        if complaint is None or complaint.enterprise_id != unit.id:
            raise _Refused("rejected", "COMPLAINT_NOT_FOUND", f"该单位没有编号为 {op.trigger_ref} 的投诉举报")
    row = planned_inspection(
        unit=unit,
        inspectors=[caller.username, *op.inspectors],
        created_by=caller.username,
        trigger=op.trigger,
        trigger_ref=op.trigger_ref,
        inspection_id=op.inspection_id,
    )
    row.received_at = now
    return SimpleNamespace(**_state(row.model_dump()))


async def _apply(
    session: AsyncSession, batch: _Batch, caller: Caller, op: BaseOperation, now: datetime
) -> SimpleNamespace:
    """Apply one operation to a copy of its inspection; the copy becomes the batch's state when it applies."""
    current = batch.rows.get(op.inspection_id)
    work = _Work()
    if current is None:
        if not isinstance(op, CreateOperation):
            raise _Refused("rejected", "INSPECTION_NOT_FOUND", "检查记录不存在或不在您的管辖范围内")
        try:
            row = _create(batch, caller, op, now)
        except QSRError as exc:  # the checklist cannot be made (the unit's kind is not known yet)
            raise _Refused("rejected", exc.code, exc.detail) from exc
        next_version = 1
    else:
        if not batch.visible[op.inspection_id]:
            if isinstance(op, CreateOperation):
                raise _Refused("rejected", "INSPECTION_ID_TAKEN", "该检查编号已被使用，请重新生成")
            raise _Refused("rejected", "INSPECTION_NOT_FOUND", "检查记录不存在或不在您的管辖范围内")
        row = copy.copy(current)
        later = _later_from_device(batch, row.id, op)
        if later is None:
            raise _Refused("duplicate", row=row)
        if isinstance(op, CreateOperation):
            raise _Refused("rejected", "INSPECTION_ID_TAKEN", "该检查编号已被使用，请重新生成", row=row)
        if caller.username not in inspectors_of(row):
            raise _Refused("rejected", "INSPECTION_NOT_ASSIGNED", "您不是该检查的执法人员", row=row)
        if row.status == "reviewed":
            raise _Refused("rejected", "INSPECTION_ALREADY_REVIEWED", "检查已审核，不能再修改", row=row)
        base = op.base_version  # type: ignore[attr-defined]
        if base > row.version:
            raise _Refused(
                "rejected", "BASE_VERSION_UNKNOWN", f"版本 {base} 不存在（当前版本 {row.version}）", row=row
            )
        if base < row.version and _changed_by_others(batch, row.id, op.device_id, base):
            raise _Refused(
                "conflict",
                "INSPECTION_VERSION_CONFLICT",
                f"检查记录在版本 {base} 之后已被他人修改，当前版本 {row.version}，请核对后重新提交",
                row=row,
                current_results=True,
            )
        if not loads(row.checklist, []):  # made before its checklist could be frozen
            unit = await repository.get_unit(session, row.enterprise_id)
            if unit is not None:
                try:
                    freeze(row, unit)
                except QSRError as exc:
                    raise _Refused("rejected", exc.code, exc.detail, row=row) from exc
        _change(batch, work, row, op, now, later)
        next_version = row.version + 1
    if op.gps is not None and (row.latitude is None or isinstance(op, StartOperation)):
        row.latitude, row.longitude, row.gps_accuracy_m = op.gps.lat, op.gps.lon, op.gps.accuracy_m
    if row.device_id != op.device_id or op.device_seq > row.device_seq:
        row.device_id, row.device_seq = op.device_id, op.device_seq
    row.version = next_version
    row.received_at = row.updated_at = now
    body = op.model_dump_json()
    # Applied: what the operation did becomes the state the batch's next operations see.
    batch.rows[row.id] = row
    batch.visible[row.id] = True
    batch.revisions[row.id].append(_Revision(op.device_id, op.device_seq, next_version, body))
    batch.new_revisions.append(
        {
            "id": new_id(),
            "inspection_id": row.id,
            "version": next_version,
            "device_id": op.device_id,
            "device_seq": op.device_seq,
            "body": body,
            "made_by": caller.username,
            "received_at": now,
        }
    )
    if work.findings is not None:
        batch.findings[row.id] = work.findings
    for event in work.events:
        emit(session, INSPECTION_SUBMITTED, event, region=row.region_code, enterprise_id=row.enterprise_id)
    return row


def _change(
    batch: _Batch, work: _Work, row: Any, op: BaseOperation, now: datetime, later: list[dict[str, Any]]
) -> None:
    """Apply one operation as if in the device's order: an operation that arrives after later ones of the same
    device (an earlier upload that was lost and retried) changes only what those later ones did not."""
    superseded = {item for body in later for item in body.get("results", {})}
    submitted_later = any(body.get("type") in ("submit", "conclude") for body in later)
    if isinstance(op, StartOperation):
        if row.status == "planned":
            row.status, row.device_started_at = "in_progress", op.device_time
        elif row.device_started_at is None or op.device_time < row.device_started_at:
            row.device_started_at = op.device_time  # the visit began when the device says it did
        return
    if isinstance(op, RecordOperation):
        if row.status == "submitted" and not submitted_later:
            raise _Refused(
                "rejected",
                "INSPECTION_ALREADY_SUBMITTED",
                "检查已提交；如需更正，请在审核前以“提交”操作重新提交全部结果",
                row=row,
            )
        fresh = {item: answer for item, answer in op.results.items() if item not in superseded}
        row.results = json.dumps(_checked_results(row, fresh), ensure_ascii=False)
        if row.status == "planned":
            row.status, row.device_started_at = "in_progress", op.device_time
        if row.status == "submitted":  # recorded before the submission that arrived first
            _sync_findings(batch, work, row, now)
        return
    assert isinstance(op, SubmitOperation)
    results = _checked_results(row, {item: a for item, a in op.results.items() if item not in superseded})
    missing = missing_items(loads(row.checklist, []), results)
    if missing:
        raise _Refused(
            "rejected",
            "INSPECTION_INCOMPLETE",
            f"以下检查项目尚无结果：{', '.join(missing)}",
            row=row,
        )
    first = row.status != "submitted"
    row.results = json.dumps(results, ensure_ascii=False)
    if op.conclusion is not None:
        row.conclusion = op.conclusion
    row.status, row.device_submitted_at = "submitted", op.device_time
    row.device_started_at = row.device_started_at or op.device_time
    findings = _sync_findings(batch, work, row, now)
    if first:
        work.events.append(
            InspectionSubmitted(
                inspection_id=row.id,
                enterprise_id=row.enterprise_id,
                trigger=row.trigger,
                visited_on=visit_date(row.device_started_at, op.device_time, now),
                inspectors=inspectors_of(row),
                findings=findings,
            )
        )


async def apply_in_order(
    db: Database, caller: Caller, ops: list[tuple[int, BaseOperation]], now: datetime
) -> dict[int, OperationOutcome]:
    """Apply ``(index, operation)`` pairs, in the order given, in one transaction; the outcome of each by index.
    A lost race is tried again (three times in all), and then finds what the winner did."""
    if not ops:
        return {}
    for attempt in range(3):
        outcomes: dict[int, OperationOutcome] = {}
        try:
            # On SQLite the write lock first: what the batch reads stays true until it commits.
            async with db.transaction(immediate=True) as session:
                batch = await _read(session, caller, [op for _, op in ops])
                for index, op in ops:
                    try:
                        row = await _apply(session, batch, caller, op, now)
                    except _Refused as refused:
                        outcomes[index] = _outcome(
                            index,
                            op,
                            refused.status,
                            code=refused.code,
                            message=refused.message,
                            **refused.shown,
                        )
                    else:
                        outcomes[index] = _outcome(index, op, "applied", **_shown(row))
                await _write(session, batch)
            return outcomes
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
