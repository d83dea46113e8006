"""现场检查 from phones: assignments, offline batch upload, review on the web, photos and signatures.

Paths
- ``GET  /assignments?since=`` — what the calling inspector's phone downloads: the planned and in-progress
  inspections it is one of the inspectors of, each with the unit, the frozen checklist, the current results
  and version. ``cursor`` in the answer is the ``since`` of the next call, which then lists only what changed
  (with a minute's overlap: a row may come twice, the phone keeps the newest ``version``);
  ``assigned_ids`` always lists every current assignment, so the phone drops those that left it
  (submitted, reviewed, reassigned).
- ``POST /inspections/sync`` — a batch of operations made offline (see below). ``Idempotency-Key`` (1–64
  visible ASCII characters, per caller) makes a repeated request return the stored answer (header
  ``Idempotent-Replayed: true``) without applying anything again; the same key with another body → 422
  ``IDEMPOTENCY_KEY_REUSED``. The answer is stored once the whole batch has run; a batch cut off before that
  is safe to resend anyway (see below).
- ``GET  /inspections`` (filters ``status``, ``enterprise_id``, ``trigger``; newest first, cursor) and
  ``GET /inspections/{id}`` (checklist, results, findings, evidence, number of revisions): for the web.
- ``POST /inspections/{id}/review`` — submitted → reviewed, with a note.
- ``PUT  /inspections/{id}/evidence/{file_id}`` — a photo or signature (JPEG, PNG or PDF), raw body or
  multipart field ``file``; ``kind``, ``taken_at``, ``lat``, ``lon`` as query parameters; optional
  ``Content-SHA256`` (hex), ``Digest: sha-256=<base64>`` or ``Repr-Digest: sha-256=:<base64>:`` is checked.
  ``GET`` the same path returns the file.

States: planned → in_progress → submitted → reviewed. A plan (``create_planned``), a complaint, or an
inspector on the phone (operation ``create`` with a UUID the phone made) makes an inspection.

Operations (one JSON object each): ``inspection_id`` (UUID), ``device_id``, ``device_seq`` (the device's own
counter, rising with every operation it makes), ``device_time`` (without an offset: Beijing time), ``gps``
(``lat``, ``lon``, ``accuracy_m``; optional), ``type`` and its fields:
- ``create``: ``enterprise_id``, ``trigger`` (adhoc | complaint: ``trigger_ref`` names a complaint about that
  unit), ``inspectors`` (the co-inspectors; the caller is always one). The checklist is frozen now.
- ``start``: planned → in_progress. ``record``: ``results`` ``{item_id: {result: pass|fail|na|waived, note}}``
  (a planned inspection starts with it; refused once submitted). ``submit`` (or ``conclude``): optional final ``results`` and
  ``conclusion``; every checklist item must have a result. Submitting again before the review re-submits
  (amends) it.
- every operation but ``create`` names ``base_version``, the version the device last had.

How a batch is applied
- Each operation commits alone, with its revision (``InspectionRevision``), so a batch cut off half way
  leaves whole operations behind, and the retry finds them applied.
- Operations are sorted by ``device_seq`` per device (devices in the order they first appear); gaps are fine.
  An operation whose (device, ``device_seq``) was applied already is a re-send: ``duplicate``, nothing
  happens. One that arrives after later operations of the same device (an upload lost and retried after a
  newer one got through) is applied as if in the device's order: its item results count only where no later
  operation of that device set the item, a late ``start`` only moves the start time earlier, and a ``record``
  made before a submission that arrived first amends the submitted results (and their findings).
- An edit is stale, ``conflict`` (with the current version, status and results), when someone other than
  that device (another phone, a reviewer) changed the inspection after ``base_version``. The device's own
  later operations never conflict with its earlier ones: offline, it cannot know the versions they made.
- Otherwise ``applied`` (with the new version) or ``rejected`` with a code: ``OPERATION_INVALID``,
  ``INSPECTION_NOT_FOUND`` (also for an inspection outside the caller's jurisdiction),
  ``INSPECTION_ID_TAKEN``, ``ENTERPRISE_NOT_FOUND``, ``COMPLAINT_NOT_FOUND``, ``INSPECTION_NOT_ASSIGNED``
  (the caller is not one of its inspectors), ``INSPECTION_ALREADY_SUBMITTED``,
  ``INSPECTION_ALREADY_REVIEWED``, ``BASE_VERSION_UNKNOWN``, ``CHECKLIST_ITEM_UNKNOWN``,
  ``INSPECTION_INCOMPLETE``, or a checklist error (``ENTERPRISE_KIND_UNKNOWN``).
- On submission every ✗ (``fail``) becomes a ``Finding`` (the note, else the item's text, as description);
  pass, na and waived make none. A re-submission adds findings for new ✗ only, and closes the still-open
  findings of items no longer ✗. The first submission announces ``inspection.inspection.submitted``
  (``visited_on``: the device's date of the visit in Beijing time, never after the day of receipt).

Jurisdiction: every read is scoped with ``repository.visible`` (a station: its own units; a unit's account:
its own inspections, read only). Only regulators download, sync and review; an operation on an inspection or
unit outside the caller's jurisdiction is rejected as not found.

Review: a regulator whose jurisdiction holds the unit and who is not one of the inspection's inspectors
(nobody reviews their own visit); only a submitted inspection; the review is a revision too, so a phone's
later stale edit conflicts with it.

Evidence: only the inspection's inspectors upload (not after the review, except the retry of a file already
kept); limits, digests and retries as ``services.inspection.evidence`` describes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Header, Query
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, field_validator, model_validator
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import ArrivalsDep, DbDep, periodic
from services.common.arrivals import Arrivals, known_unit
from services.common.auth import Caller, CallerDep
from services.common.db import CHINA, Database, UTCDateTime, as_utc, utcnow
from services.common.errors import Conflict, Forbidden, Invalid, NotFound, QSRError
from services.common.events import INSPECTION_SUBMITTED, InspectionSubmitted
from services.common.ids import new_id
from services.common.messaging import emit
from services.common.pagination import MAX_LIMIT, Page, keyset_sorted
from services.inspection import checklists, evidence, repository
from services.inspection.models import (
    Complaint,
    EvidenceFile,
    Finding,
    IdempotencyRecord,
    Inspection,
    InspectionRevision,
    KnownEnterprise,
    Rectification,
)

router = APIRouter(tags=["on-site inspections 现场检查"])

ACTIVE = ("planned", "in_progress")
InspectionStatus = Literal["planned", "in_progress", "submitted", "reviewed"]
ResultValue = Literal["pass", "fail", "na", "waived"]
# A change that committed a little before another but carries an older ``updated_at`` is still sent.
SYNC_OVERLAP = timedelta(seconds=60)
MAX_OPERATIONS = 500


# ------------------------------------------------------------------------------------------------- errors


class InspectionNotFound(NotFound):
    code, title = "INSPECTION_NOT_FOUND", "检查记录不存在或不在您的管辖范围内"


class RegulatorOnly(Forbidden):
    code, title = "INSPECTION_REGULATOR_ONLY", "仅监管执法人员可以执行此操作"


class NotAssigned(Forbidden):
    code, title = "INSPECTION_NOT_ASSIGNED", "您不是该检查的执法人员"


class ReviewerIsInspector(Forbidden):
    code, title = "INSPECTION_REVIEWER_IS_INSPECTOR", "检查人员不能审核自己参与的检查"


class NotSubmitted(Conflict):
    code, title = "INSPECTION_NOT_SUBMITTED", "只有已提交的检查可以审核"


class AlreadyReviewed(Conflict):
    code, title = "INSPECTION_ALREADY_REVIEWED", "检查已审核，不能再修改"


class VersionConflict(Conflict):
    code, title = "INSPECTION_VERSION_CONFLICT", "检查记录已被他人修改，请以最新版本为准"


class IdempotencyKeyInvalid(Invalid):
    code, title = "IDEMPOTENCY_KEY_INVALID", "Idempotency-Key 格式无效"


class IdempotencyKeyReused(Invalid):
    code, title = "IDEMPOTENCY_KEY_REUSED", "同一 Idempotency-Key 已用于内容不同的请求"


# ------------------------------------------------------------------------------------------------ schemas


class Gps(BaseModel):
    lat: float = Field(ge=-90, le=90, title="纬度")
    lon: float = Field(ge=-180, le=180, title="经度")
    accuracy_m: float | None = Field(default=None, ge=0, title="定位精度（米）")


class ItemResult(BaseModel):
    result: ResultValue = Field(title="结果：符合 pass / 不符合 fail / 不适用 na / 免于检查 waived")
    note: str = Field(default="", max_length=2000, title="备注")


class _Operation(BaseModel):
    inspection_id: str = Field(title="检查编号（移动端生成的 UUID）")
    device_id: str = Field(min_length=1, max_length=100, title="设备编号")
    device_seq: int = Field(ge=1, le=2**62, title="设备操作序号（每台设备单调递增）")
    device_time: datetime = Field(title="设备时间（无时区时按北京时间）")
    gps: Gps | None = None

    @field_validator("inspection_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError as exc:
            raise ValueError("检查编号须为 UUID") from exc

    @field_validator("device_time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return evidence.device_datetime(value)


class CreateOperation(_Operation):
    type: Literal["create"]
    enterprise_id: str = Field(min_length=1, max_length=36)
    trigger: Literal["adhoc", "complaint"] = "adhoc"
    trigger_ref: str | None = Field(default=None, max_length=36)
    inspectors: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=5, title="同行执法人员（调用者本人总是其中之一）"
    )

    @model_validator(mode="after")
    def _complaint_named(self) -> CreateOperation:
        if self.trigger == "complaint" and not self.trigger_ref:
            raise ValueError("投诉举报触发的检查须在 trigger_ref 中写明投诉编号")
        return self


class StartOperation(_Operation):
    type: Literal["start"]
    base_version: int = Field(ge=1)


class RecordOperation(_Operation):
    type: Literal["record"]
    base_version: int = Field(ge=1)
    results: dict[str, ItemResult] = Field(min_length=1, max_length=500)


class SubmitOperation(_Operation):
    type: Literal["submit", "conclude"]
    base_version: int = Field(ge=1)
    results: dict[str, ItemResult] = Field(default_factory=dict, max_length=500)
    conclusion: str | None = Field(default=None, max_length=4000)


Operation = Annotated[
    CreateOperation | StartOperation | RecordOperation | SubmitOperation, Field(discriminator="type")
]
_OPERATION = TypeAdapter(Operation)


class SyncBatch(BaseModel):
    """A batch from one phone. Operations are checked one by one, so one malformed operation is rejected
    alone instead of holding the whole queue back."""

    operations: list[dict[str, Any]] = Field(
        max_length=MAX_OPERATIONS,
        description="create / start / record / submit operations; the shape of each is the schema Operation",
    )


OutcomeStatus = Literal["applied", "duplicate", "conflict", "rejected"]


class OperationOutcome(BaseModel):
    index: int = Field(description="position of the operation in the request")
    inspection_id: str | None = None
    device_id: str | None = None
    device_seq: int | None = None
    status: OutcomeStatus
    version: int | None = Field(default=None, description="the inspection's version now")
    inspection_status: InspectionStatus | None = None
    code: str | None = None
    message: str | None = None
    current_results: dict[str, Any] | None = Field(default=None, description="conflict: the results now")


class SyncResult(BaseModel):
    received_at: UTCDateTime
    applied: int
    duplicate: int
    conflict: int
    rejected: int
    outcomes: list[OperationOutcome]


class UnitPublic(BaseModel):
    id: str
    name: str
    kind: str
    region_code: str
    uscc: str | None = None
    sales_channel: str | None = None
    address: str | None = Field(default=None, description="not yet announced by registry")


class Assignment(BaseModel):
    id: str
    status: InspectionStatus
    version: int
    trigger: str
    trigger_ref: str | None
    plan_id: str | None
    inspectors: list[str]
    unit: UnitPublic
    template: str
    template_version: str
    checklist: list[dict[str, Any]]
    results: dict[str, Any]
    updated_at: UTCDateTime


class Assignments(BaseModel):
    cursor: str = Field(description="pass as ``since`` next time")
    items: list[Assignment] = Field(description="assignments changed since ``since`` (all without it)")
    assigned_ids: list[str] = Field(description="every inspection assigned to the caller now")


class InspectionSummary(BaseModel):
    id: str
    enterprise_id: str
    region_code: str
    status: InspectionStatus
    trigger: str
    trigger_ref: str | None
    plan_id: str | None
    template: str
    template_version: str
    inspectors: list[str]
    version: int
    device_started_at: UTCDateTime | None
    device_submitted_at: UTCDateTime | None
    received_at: UTCDateTime | None
    created_by: str
    created_at: UTCDateTime
    updated_at: UTCDateTime


class FindingBrief(BaseModel):
    id: str
    item_id: str | None
    description: str
    status: str


class EvidencePublic(evidence.EvidenceFilePublic):
    inspection_id: str


class InspectionDetail(InspectionSummary):
    checklist: list[dict[str, Any]]
    results: dict[str, Any]
    conclusion: str | None
    latitude: float | None
    longitude: float | None
    gps_accuracy_m: float | None
    device_id: str | None
    reviewed_by: str | None
    reviewed_at: UTCDateTime | None
    review_note: str | None
    findings: list[FindingBrief]
    evidence: list[EvidencePublic]
    revisions: int


class ReviewCreate(BaseModel):
    note: str = Field(min_length=1, max_length=4000, title="审核意见")
    base_version: int | None = Field(default=None, ge=1, title="审核所依据的版本（可选，过期则 409）")


# ---------------------------------------------------------------------------------------- plain domain rules


def order_operations(operations: Sequence[_Operation]) -> list[_Operation]:
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


# ------------------------------------------------------------------------------------------------ helpers


def _loads(text: str | None, default: Any) -> Any:
    return json.loads(text) if text else default


def _inspectors(row: Inspection) -> list[str]:
    return list(_loads(row.inspectors, []))


def _require_regulator(caller: Caller) -> None:
    if not caller.is_regulator:
        raise RegulatorOnly()


async def _readable(session: AsyncSession, caller: Caller, inspection_id: str) -> Inspection:
    stmt = select(Inspection).where(Inspection.id == inspection_id, repository.visible(caller, Inspection))
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise InspectionNotFound()
    return row


async def _is_visible(session: AsyncSession, caller: Caller, inspection_id: str) -> bool:
    stmt = select(Inspection.id).where(Inspection.id == inspection_id, repository.visible(caller, Inspection))
    return (await session.execute(stmt)).first() is not None


def _freeze(row: Inspection, unit: KnownEnterprise) -> None:
    """The unit's checklist as it is today, kept with the inspection (later template versions do not
    change an inspection already made)."""
    name, version, items = checklists.build_checklist(
        unit.kind, _loads(unit.risk_points, []), region_code=unit.region_code
    )
    row.template, row.template_version = name, version
    row.checklist = json.dumps(items, ensure_ascii=False)


async def create_planned(
    session: AsyncSession,
    *,
    unit: KnownEnterprise,
    inspectors: list[str],
    created_by: str,
    trigger: str = "plan",
    trigger_ref: str | None = None,
    plan_id: str | None = None,
    inspection_id: str | None = None,
) -> Inspection:
    """A planned inspection of ``unit`` for ``inspectors``, with its checklist frozen: what a plan or a
    verified complaint hands to the phones. The caller checks jurisdiction; raises the checklist's error
    (409) for a unit whose kind registry has not announced yet."""
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
    _freeze(row, unit)
    session.add(row)
    return row


# --------------------------------------------------------------------------------------- applying a batch


class _Refused(Exception):
    """An operation that is not applied; raised inside its transaction so that nothing of it stays. It keeps
    what the answer shows of the inspection as it is now (the rollback expires the row)."""

    def __init__(
        self,
        status: OutcomeStatus,
        code: str | None = None,
        message: str | None = None,
        *,
        row: Inspection | None = None,
        current_results: bool = False,
    ) -> None:
        super().__init__(code or status)
        self.status, self.code, self.message = status, code, message
        self.shown = _shown(row)
        if current_results and row is not None:
            self.shown["current_results"] = _loads(row.results, {})


def _shown(row: Inspection | None) -> dict[str, Any]:
    return {"version": row.version, "inspection_status": row.status} if row is not None else {}


def _outcome(index: int, op: _Operation, status: OutcomeStatus, **shown: Any) -> OperationOutcome:
    return OperationOutcome(
        index=index,
        inspection_id=op.inspection_id,
        device_id=op.device_id,
        device_seq=op.device_seq,
        status=status,
        **shown,
    )


async def _later_from_device(
    session: AsyncSession, row: Inspection, op: _Operation
) -> list[dict[str, Any]] | None:
    """None if this very operation (device, number) was applied already (a re-send); otherwise the operations
    of the same device with a higher number that were applied before it arrived (late, out of order)."""
    stmt = select(InspectionRevision.device_seq, InspectionRevision.body).where(
        InspectionRevision.inspection_id == row.id,
        InspectionRevision.device_id == op.device_id,
        InspectionRevision.device_seq >= op.device_seq,
    )
    later: list[dict[str, Any]] = []
    for seq, body in (await session.execute(stmt)).all():
        if seq == op.device_seq:
            return None
        later.append(json.loads(body))
    return later


async def _changed_by_others(session: AsyncSession, row: Inspection, op: _Operation, base: int) -> bool:
    stmt = select(InspectionRevision.id).where(
        InspectionRevision.inspection_id == row.id,
        InspectionRevision.version > base,
        or_(InspectionRevision.device_id.is_(None), InspectionRevision.device_id != op.device_id),  # type: ignore[union-attr]
    )
    return (await session.execute(stmt.limit(1))).first() is not None


def _checked_results(row: Inspection, results: dict[str, ItemResult]) -> dict[str, Any]:
    checklist = _loads(row.checklist, [])
    answers = {item_id: answer.model_dump() for item_id, answer in results.items()}
    unknown = unknown_items(checklist, answers)
    if unknown:
        raise _Refused(
            "rejected",
            "CHECKLIST_ITEM_UNKNOWN",
            f"检查清单（{row.template} {row.template_version}）中没有以下条目：{', '.join(unknown)}",
            row=row,
        )
    return {**_loads(row.results, {}), **answers}


async def _sync_findings(session: AsyncSession, row: Inspection, now: datetime) -> int:
    """Findings of a (re-)submitted inspection: one per ✗ item, never two; an item no longer ✗ closes its
    finding while nobody has ordered a rectification of it."""
    failed = failed_items(_loads(row.checklist, []), _loads(row.results, {}))
    stmt = select(Finding).where(Finding.source == "inspection", Finding.source_id == row.id)
    existing = {f.item_id: f for f in (await session.execute(stmt)).scalars()}
    for item_id, description in failed.items():
        finding = existing.get(item_id)
        if finding is None:
            session.add(
                Finding(
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
            )
        elif finding.status == "open":
            finding.description = description
        elif finding.status == "closed" and not await _has_rectification(session, finding.id):
            finding.status, finding.description = "open", description
    for item_id, finding in existing.items():
        if item_id not in failed and finding.status == "open":
            if not await _has_rectification(session, finding.id):
                finding.status = "closed"
    return len(failed)


async def _has_rectification(session: AsyncSession, finding_id: str) -> bool:
    stmt = select(Rectification.id).where(Rectification.finding_id == finding_id).limit(1)
    return (await session.execute(stmt)).first() is not None


async def _create(session: AsyncSession, caller: Caller, op: CreateOperation, now: datetime) -> Inspection:
    unit = await repository.get_readable_enterprise(session, caller, op.enterprise_id)
    if unit is None:
        raise _Refused("rejected", "ENTERPRISE_NOT_FOUND", "单位不存在、尚未同步或不在您的管辖范围内")
    if op.trigger == "complaint":
        complaint = await session.get(Complaint, op.trigger_ref)
        if complaint is None or complaint.enterprise_id != unit.id:
            raise _Refused("rejected", "COMPLAINT_NOT_FOUND", f"该单位没有编号为 {op.trigger_ref} 的投诉举报")
    row = await create_planned(
        session,
        unit=unit,
        inspectors=[caller.username, *op.inspectors],
        created_by=caller.username,
        trigger=op.trigger,
        trigger_ref=op.trigger_ref,
        inspection_id=op.inspection_id,
    )
    row.received_at = now
    return row


async def _apply(
    session: AsyncSession, caller: Caller, op: _Operation, now: datetime
) -> tuple[OutcomeStatus, Inspection]:
    stmt = select(Inspection).where(Inspection.id == op.inspection_id).with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        if not isinstance(op, CreateOperation):
            raise _Refused("rejected", "INSPECTION_NOT_FOUND", "检查记录不存在或不在您的管辖范围内")
        try:
            row = await _create(session, caller, op, now)
        except QSRError as exc:  # the checklist cannot be made (the unit's kind is not known yet)
            raise _Refused("rejected", exc.code, exc.detail) from exc
        next_version = 1
    else:
        if not await _is_visible(session, caller, row.id):
            if isinstance(op, CreateOperation):
                raise _Refused("rejected", "INSPECTION_ID_TAKEN", "该检查编号已被使用，请重新生成")
            raise _Refused("rejected", "INSPECTION_NOT_FOUND", "检查记录不存在或不在您的管辖范围内")
        later = await _later_from_device(session, row, op)
        if later is None:
            raise _Refused("duplicate", row=row)
        if isinstance(op, CreateOperation):
            raise _Refused("rejected", "INSPECTION_ID_TAKEN", "该检查编号已被使用，请重新生成", row=row)
        if caller.username not in _inspectors(row):
            raise _Refused("rejected", "INSPECTION_NOT_ASSIGNED", "您不是该检查的执法人员", row=row)
        if row.status == "reviewed":
            raise _Refused("rejected", "INSPECTION_ALREADY_REVIEWED", "检查已审核，不能再修改", row=row)
        base = op.base_version  # type: ignore[attr-defined]
        if base > row.version:
            raise _Refused(
                "rejected", "BASE_VERSION_UNKNOWN", f"版本 {base} 不存在（当前版本 {row.version}）", row=row
            )
        if base < row.version and await _changed_by_others(session, row, op, base):
            raise _Refused(
                "conflict",
                "INSPECTION_VERSION_CONFLICT",
                f"检查记录在版本 {base} 之后已被他人修改，当前版本 {row.version}，请核对后重新提交",
                row=row,
                current_results=True,
            )
        if not _loads(row.checklist, []):  # made before its checklist could be frozen
            unit = await session.get(KnownEnterprise, row.enterprise_id)
            if unit is not None:
                try:
                    _freeze(row, unit)
                except QSRError as exc:
                    raise _Refused("rejected", exc.code, exc.detail, row=row) from exc
        await _change(session, row, op, now, later)
        next_version = row.version + 1
    if op.gps is not None and (row.latitude is None or isinstance(op, StartOperation)):
        row.latitude, row.longitude, row.gps_accuracy_m = op.gps.lat, op.gps.lon, op.gps.accuracy_m
    if row.device_id != op.device_id or op.device_seq > row.device_seq:
        row.device_id, row.device_seq = op.device_id, op.device_seq
    row.version = next_version
    row.received_at = row.updated_at = now
    session.add(
        InspectionRevision(
            id=new_id(),
            inspection_id=row.id,
            version=next_version,
            device_id=op.device_id,
            device_seq=op.device_seq,
            body=op.model_dump_json(),
            made_by=caller.username,
            received_at=now,
        )
    )
    await session.flush()
    return "applied", row


async def _change(
    session: AsyncSession, row: Inspection, op: _Operation, now: datetime, later: list[dict[str, Any]]
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
            await _sync_findings(session, row, now)
        return
    assert isinstance(op, SubmitOperation)
    results = _checked_results(row, {item: a for item, a in op.results.items() if item not in superseded})
    missing = missing_items(_loads(row.checklist, []), results)
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
    findings = await _sync_findings(session, row, now)
    if first:
        emit(
            session,
            INSPECTION_SUBMITTED,
            InspectionSubmitted(
                inspection_id=row.id,
                enterprise_id=row.enterprise_id,
                trigger=row.trigger,
                visited_on=visit_date(row.device_started_at, op.device_time, now),
                inspectors=_inspectors(row),
                findings=findings,
            ),
            region=row.region_code,
            enterprise_id=row.enterprise_id,
        )


async def apply_operation(
    db: Database, caller: Caller, index: int, op: _Operation, now: datetime
) -> OperationOutcome:
    """One operation in its own transaction; a lost race (two requests applying the same operation, or two
    devices taking the same version) is tried again, and then finds what the winner did."""
    for attempt in range(3):
        try:
            async with db.transaction() as session:
                status, row = await _apply(session, caller, op, now)
                return _outcome(index, op, status, **_shown(row))
        except _Refused as refused:
            return _outcome(
                index, op, refused.status, code=refused.code, message=refused.message, **refused.shown
            )
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _invalid(index: int, raw: Any, exc: ValidationError) -> OperationOutcome:
    raw = raw if isinstance(raw, dict) else {}
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    seq = raw.get("device_seq")
    return OperationOutcome(
        index=index,
        inspection_id=str(raw["inspection_id"])[:36] if raw.get("inspection_id") is not None else None,
        device_id=str(raw["device_id"])[:100] if raw.get("device_id") is not None else None,
        device_seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        status="rejected",
        code="OPERATION_INVALID",
        message=f"操作格式无效：{where}：{first['msg']}",
    )


async def _await_units(
    db: Database, arrivals: Arrivals | None, caller: Caller, ops: list[_Operation]
) -> None:
    """A unit registered a moment ago may not be known here yet: the batch waits for the units its creations
    name that are not, all together (one bounded wait), before any operation applies."""
    wanted = {op.enterprise_id for op in ops if isinstance(op, CreateOperation)}
    if not wanted:
        return
    async with db.session() as session:
        missing = wanted - await repository.readable_enterprise_ids(session, caller, wanted)
    lookups = {
        unit: partial(repository.get_readable_enterprise, caller=caller, enterprise_id=unit)
        for unit in missing
    }
    await asyncio.gather(*(known_unit(db, arrivals, unit, lookup) for unit, lookup in lookups.items()))


async def apply_batch(
    db: Database, caller: Caller, raw_operations: list[Any], arrivals: Arrivals | None = None
) -> SyncResult:
    now = utcnow()
    outcomes: dict[int, OperationOutcome] = {}
    parsed: list[_Operation] = []
    position: dict[int, int] = {}
    for index, raw in enumerate(raw_operations):
        try:
            op = _OPERATION.validate_python(raw)
        except ValidationError as exc:
            outcomes[index] = _invalid(index, raw, exc)
            continue
        position[id(op)] = index
        parsed.append(op)
    await _await_units(db, arrivals, caller, parsed)
    for op in order_operations(parsed):
        index = position[id(op)]
        outcomes[index] = await apply_operation(db, caller, index, op, now)
    ordered = [outcomes[i] for i in range(len(raw_operations))]
    counts = {
        s: sum(1 for o in ordered if o.status == s) for s in ("applied", "duplicate", "conflict", "rejected")
    }
    return SyncResult(received_at=now, outcomes=ordered, **counts)


# ------------------------------------------------------------------------------------------------ idempotency

_KEY = re.compile(r"^[\x21-\x7e]{1,64}$")


def _request_hash(body: SyncBatch) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, request_hash: str) -> JSONResponse:
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused("该 Idempotency-Key 已用于另一批内容不同的操作；新的一批请使用新的键")
    return JSONResponse(
        json.loads(record.response), status_code=record.status_code, headers={"Idempotent-Replayed": "true"}
    )


async def purge_idempotency(db: Database, before: datetime) -> int:
    """Forget the responses kept for Idempotency-Keys made before ``before``; returns how many."""
    async with db.transaction() as session:
        result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < before))  # type: ignore[arg-type]
    return result.rowcount or 0  # type: ignore[attr-defined]


async def _purge_idempotency(app: FastAPI) -> str:
    days = app.state.settings.inspection_idempotency_retention_days
    purged = await purge_idempotency(app.state.db, utcnow() - timedelta(days=days))
    return f"idempotency records older than {days} days forgotten: {purged}" if purged else ""


# Every ``inspection_overdue_check_interval_seconds`` as well: a daily chore.
idempotency_job = periodic(
    "idempotency_purges",
    lambda settings: settings.inspection_overdue_check_interval_seconds,
    _purge_idempotency,
)


# ------------------------------------------------------------------------------------------------- routes


def _summary(row: Inspection) -> dict[str, Any]:
    return {**row.model_dump(), "inspectors": _inspectors(row)}


def _evidence_public(row: EvidenceFile) -> EvidencePublic:
    return EvidencePublic.model_validate({**row.model_dump(), "inspection_id": row.owner_id})


@router.get("/assignments", response_model=Assignments, summary="移动端下载：我的待检查任务（增量同步）")
async def assignments(
    db: DbDep,
    caller: CallerDep,
    since: Annotated[UTCDateTime | None, Query(description="上次返回的 cursor；不填则全部下载")] = None,
) -> Assignments:
    _require_regulator(caller)
    cursor = utcnow()
    stmt = (
        select(Inspection, KnownEnterprise)
        .join(KnownEnterprise, KnownEnterprise.id == Inspection.enterprise_id, isouter=True)
        .where(
            repository.visible(caller, Inspection),
            Inspection.status.in_(ACTIVE),  # type: ignore[attr-defined]
            Inspection.inspectors.contains(json.dumps(caller.username, ensure_ascii=False), autoescape=True),  # type: ignore[attr-defined]
        )
        .order_by(Inspection.created_at, Inspection.id)
    )
    async with db.session() as session:
        rows = [(r, u) for r, u in (await session.execute(stmt)).all() if caller.username in _inspectors(r)]
    changed_after = since - SYNC_OVERLAP if since is not None else None
    items = []
    for row, unit in rows:
        if changed_after is not None and as_utc(row.updated_at) < changed_after:
            continue
        checklist = _loads(row.checklist, [])
        template, version = row.template, row.template_version
        if not checklist and unit is not None and unit.kind in ("production", "sales"):
            # Not frozen by whoever planned it: shown as it will be frozen at the first operation.
            template, version, checklist = checklists.build_checklist(
                unit.kind, _loads(unit.risk_points, []), region_code=unit.region_code
            )
        unit_public = UnitPublic(
            id=row.enterprise_id,
            name=unit.name if unit else "",
            kind=unit.kind if unit else "unknown",
            region_code=row.region_code,
            uscc=unit.uscc if unit else None,
            sales_channel=unit.sales_channel if unit else None,
        )
        items.append(
            Assignment.model_validate(
                {
                    **_summary(row),
                    "template": template,
                    "template_version": version,
                    "unit": unit_public,
                    "checklist": checklist,
                    "results": _loads(row.results, {}),
                }
            )
        )
    return Assignments(cursor=cursor.isoformat(), items=items, assigned_ids=[r.id for r, _ in rows])


@router.post(
    "/inspections/sync",
    response_model=SyncResult,
    summary="移动端批量上传离线操作（按设备序号依序应用，可安全重发）",
    responses={422: {"description": "IDEMPOTENCY_KEY_REUSED: the key was used for another body"}},
)
async def sync(
    body: SyncBatch,
    db: DbDep,
    arrivals: ArrivalsDep,
    caller: CallerDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Any:
    _require_regulator(caller)
    record_key = None
    request_hash = _request_hash(body)
    if idempotency_key is not None:
        if not _KEY.match(idempotency_key):
            raise IdempotencyKeyInvalid("Idempotency-Key 须为 1–64 个可见 ASCII 字符（建议使用 UUID）")
        record_key = f"{caller.username}:{idempotency_key}"
        async with db.session() as session:
            record = await session.get(IdempotencyRecord, record_key)
        if record is not None:
            return _replay(record, request_hash)
    result = await apply_batch(db, caller, body.operations, arrivals)
    if record_key is not None:
        stored = IdempotencyRecord(
            key=record_key,
            request_hash=request_hash,
            status_code=200,
            response=result.model_dump_json(),
            created_at=utcnow(),
        )
        try:
            async with db.transaction() as session:
                session.add(stored)
        except IntegrityError:  # the same request ran twice at once: both answers are the same batch's
            async with db.session() as session:
                record = await session.get(IdempotencyRecord, record_key)
            if record is not None:
                return _replay(record, request_hash)
            raise
    return result


@router.get("/inspections", response_model=Page[InspectionSummary], summary="现场检查列表（最新在前）")
async def list_inspections(
    db: DbDep,
    caller: CallerDep,
    status: InspectionStatus | None = None,
    enterprise_id: str | None = None,
    trigger: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Page[InspectionSummary]:
    stmt = select(Inspection).where(repository.visible(caller, Inspection))
    for column, value in (
        (Inspection.status, status),
        (Inspection.enterprise_id, enterprise_id),
        (Inspection.trigger, trigger),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    async with db.session() as session:
        rows, next_cursor = await keyset_sorted(
            session,
            stmt,
            Inspection.created_at,  # type: ignore[arg-type]
            Inspection.id,  # type: ignore[arg-type]
            descending=True,
            cursor=cursor,
            limit=limit,
        )
    return Page[InspectionSummary](
        items=[InspectionSummary.model_validate(_summary(r)) for r in rows], next_cursor=next_cursor
    )


async def _detail(session: AsyncSession, row: Inspection) -> InspectionDetail:
    """The inspection's detail after a change, from the ORM objects of the transaction."""
    findings = (
        await session.execute(
            select(Finding)
            .where(Finding.source == "inspection", Finding.source_id == row.id)
            .order_by(Finding.id)
        )
    ).scalars()
    evidence = (
        await session.execute(
            select(EvidenceFile)
            .where(EvidenceFile.owner_kind == "inspection", EvidenceFile.owner_id == row.id)
            .order_by(EvidenceFile.created_at, EvidenceFile.id)
        )
    ).scalars()
    revisions = (
        await session.execute(
            select(func.count())
            .select_from(InspectionRevision)
            .where(InspectionRevision.inspection_id == row.id)
        )
    ).scalar_one()
    return _detail_public(
        row.model_dump(),
        findings=[f.model_dump() for f in findings],
        evidence=[e.model_dump() for e in evidence],
        revisions=revisions,
    )


def _detail_public(
    fields: Mapping[str, Any],
    *,
    findings: list[dict[str, Any]],
    evidence: list[dict[str, Any]],
    revisions: int,
) -> InspectionDetail:
    return InspectionDetail.model_validate(
        {
            **fields,
            "inspectors": list(_loads(fields["inspectors"], [])),
            "checklist": _loads(fields["checklist"], []),
            "results": _loads(fields["results"], {}),
            "findings": [FindingBrief.model_validate(f) for f in findings],
            "evidence": [
                EvidencePublic.model_validate({**e, "inspection_id": fields["id"]}) for e in evidence
            ],
            "revisions": revisions,
        }
    )


@router.get("/inspections/{inspection_id}", response_model=InspectionDetail, summary="现场检查详情")
async def get_inspection(inspection_id: str, db: DbDep, caller: CallerDep) -> InspectionDetail:
    async with db.session() as session:
        record = await repository.get_readable_inspection(session, caller, inspection_id)
    if record is None:
        raise InspectionNotFound()
    inspection = record.inspection._mapping
    return _detail_public(
        inspection, findings=record.findings, evidence=record.evidence, revisions=record.revisions
    )


@router.post(
    "/inspections/{inspection_id}/review",
    response_model=InspectionDetail,
    summary="审核已提交的现场检查（审核人不得是该检查的执法人员）",
)
async def review(inspection_id: str, body: ReviewCreate, db: DbDep, caller: CallerDep) -> InspectionDetail:
    async with db.transaction() as session:
        row = await _readable(session, caller, inspection_id)
        _require_regulator(caller)
        if caller.username in _inspectors(row):
            raise ReviewerIsInspector("请由未参与本次检查的监管人员审核")
        if row.status == "reviewed":
            raise AlreadyReviewed(f"已由 {row.reviewed_by} 审核", current_version=row.version)
        if row.status != "submitted":
            raise NotSubmitted(f"检查状态：{row.status}", current_version=row.version)
        if body.base_version is not None and body.base_version != row.version:
            raise VersionConflict(
                f"审核依据的版本 {body.base_version} 已过期，当前版本 {row.version}",
                current_version=row.version,
            )
        now = utcnow()
        row.version += 1
        row.status, row.reviewed_by, row.reviewed_at, row.review_note = (
            "reviewed",
            caller.username,
            now,
            body.note,
        )
        row.updated_at = now
        session.add(
            InspectionRevision(
                id=new_id(),
                inspection_id=row.id,
                version=row.version,
                device_id=None,
                device_seq=0,
                body=json.dumps({"type": "review", "note": body.note}, ensure_ascii=False),
                made_by=caller.username,
                received_at=now,
            )
        )
        await session.flush()
        return await _detail(session, row)


# ------------------------------------------------------------------------------------------------ evidence

_EVIDENCE = "/inspections/{inspection_id}/evidence/{file_id}"


async def _may_add_evidence(session: AsyncSession, caller: Caller, inspection_id: str, retry: bool) -> None:
    row = await _readable(session, caller, inspection_id)
    _require_regulator(caller)
    if caller.username not in _inspectors(row):
        raise NotAssigned("只有该检查的执法人员可以上传现场证据")
    if not retry and row.status == "reviewed":
        raise AlreadyReviewed("检查已审核，不能再补充证据")


@router.put(
    _EVIDENCE,
    response_model=EvidencePublic,
    summary="上传现场照片或签名（原始内容或 multipart；同一文件编号重传安全）",
    **evidence.UPLOAD_ROUTE,
)
async def upload_evidence(
    inspection_id: str,
    file_id: str,
    upload: evidence.UploadDep,
    kind: Annotated[
        Literal["photo", "signature"], Query(description="照片 photo / 签名 signature")
    ] = "photo",
) -> EvidencePublic:
    return _evidence_public(await upload.keep("inspection", inspection_id, file_id, _may_add_evidence, kind))


@router.get(_EVIDENCE, summary="下载现场证据文件", **evidence.DOWNLOAD_ROUTE)
async def download_evidence(inspection_id: str, file_id: str, download: evidence.DownloadDep) -> FileResponse:
    return await download.file("inspection", inspection_id, file_id, _readable)
