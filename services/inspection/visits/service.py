"""On-site inspections: applying a phone's batch, idempotent syncs, the web's views and the review.

What a batch does and answers is described in ``services.inspection.visits``; the plain rules it applies are
in ``visits.rules``, its queries in ``visits.repository``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import periodic
from services.common.arrivals import Arrivals, known_unit
from services.common.auth import Caller
from services.common.db import Database, as_utc, utcnow
from services.common.errors import Conflict, Forbidden, Invalid, NotFound
from services.common.ids import new_id
from services.common.pagination import Page
from services.common.shape_errors import shape_errors
from services.inspection import checklists
from services.inspection import repository as inspection_repository
from services.inspection.models import (
    EvidenceFile,
    IdempotencyRecord,
    Inspection,
    InspectionRevision,
    KnownEnterprise,
)
from services.inspection.visits import batch, repository
from services.inspection.visits.rules import inspectors_of, loads, order_operations, planned_inspection
from services.inspection.visits.schemas import (
    OPERATION,
    Assignment,
    Assignments,
    BaseOperation,
    CreateOperation,
    EvidencePublic,
    FindingBrief,
    InspectionDetail,
    InspectionSummary,
    OperationOutcome,
    ReviewCreate,
    SyncBatch,
    SyncResult,
    UnitPublic,
)

# A change that committed a little before another but carries an older ``updated_at`` is still sent.
SYNC_OVERLAP = timedelta(seconds=60)


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


# ------------------------------------------------------------------------------------------------ helpers


def require_regulator(caller: Caller) -> None:
    if not caller.is_regulator:
        raise RegulatorOnly()


async def readable(session: AsyncSession, caller: Caller, inspection_id: str) -> Inspection:
    """The inspection as the caller may see it; 404 otherwise."""
    row = await repository.get_readable(session, caller, inspection_id)
    if row is None:
        raise InspectionNotFound()
    return row


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
    row = planned_inspection(
        unit=unit,
        inspectors=inspectors,
        created_by=created_by,
        trigger=trigger,
        trigger_ref=trigger_ref,
        plan_id=plan_id,
        inspection_id=inspection_id,
    )
    session.add(row)
    return row


# --------------------------------------------------------------------------------------- applying a batch


def _invalid(index: int, raw: Any, exc: ValidationError) -> OperationOutcome:
    raw = raw if isinstance(raw, dict) else {}
    first = shape_errors(exc.errors())[0]
    seq = raw.get("device_seq")
    return OperationOutcome(
        index=index,
        inspection_id=str(raw["inspection_id"])[:36] if raw.get("inspection_id") is not None else None,
        device_id=str(raw["device_id"])[:100] if raw.get("device_id") is not None else None,
        device_seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        status="rejected",
        code="OPERATION_INVALID",
        message=f"操作格式无效：{first['field']}：{first['message']}",
    )


async def _await_units(
    db: Database, arrivals: Arrivals | None, caller: Caller, ops: list[BaseOperation]
) -> None:
    """A unit registered a moment ago may not be known here yet: the batch waits for the units its creations
    name that are not, all together (one bounded wait), before any operation applies."""
    wanted = {op.enterprise_id for op in ops if isinstance(op, CreateOperation)}
    if not wanted:
        return
    async with db.session() as session:
        missing = wanted - await inspection_repository.readable_enterprise_ids(session, caller, wanted)
    lookups = {
        unit: partial(inspection_repository.get_readable_enterprise, caller=caller, enterprise_id=unit)
        for unit in missing
    }
    await asyncio.gather(*(known_unit(db, arrivals, unit, lookup) for unit, lookup in lookups.items()))


async def apply_batch(
    db: Database, caller: Caller, raw_operations: list[Any], arrivals: Arrivals | None = None
) -> SyncResult:
    """Check each operation, then apply the well-formed ones in the device's order (``batch``)."""
    now = utcnow()
    outcomes: dict[int, OperationOutcome] = {}
    parsed: list[BaseOperation] = []
    position: dict[int, int] = {}
    for index, raw in enumerate(raw_operations):
        try:
            op = OPERATION.validate_python(raw)
        except ValidationError as exc:
            outcomes[index] = _invalid(index, raw, exc)
            continue
        position[id(op)] = index
        parsed.append(op)
    await _await_units(db, arrivals, caller, parsed)
    ordered = [(position[id(op)], op) for op in order_operations(parsed)]
    outcomes.update(await batch.apply_in_order(db, caller, ordered, now))
    answers = [outcomes[i] for i in range(len(raw_operations))]
    counts = {
        s: sum(1 for o in answers if o.status == s) for s in ("applied", "duplicate", "conflict", "rejected")
    }
    return SyncResult(received_at=now, outcomes=answers, **counts)


# ------------------------------------------------------------------------------------------------ idempotency

_KEY = re.compile(r"^[\x21-\x7e]{1,64}$")


def _request_hash(body: SyncBatch) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replayed(record: IdempotencyRecord, request_hash: str) -> IdempotencyRecord:
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused("该 Idempotency-Key 已用于另一批内容不同的操作；新的一批请使用新的键")
    return record


async def sync(
    db: Database,
    caller: Caller,
    body: SyncBatch,
    idempotency_key: str | None,
    arrivals: Arrivals | None = None,
) -> SyncResult | IdempotencyRecord:
    """Apply a phone's batch; with an ``Idempotency-Key``, the stored answer of the same batch sent before
    (an ``IdempotencyRecord`` to replay) instead."""
    require_regulator(caller)
    record_key = None
    request_hash = _request_hash(body)
    if idempotency_key is not None:
        if not _KEY.match(idempotency_key):
            raise IdempotencyKeyInvalid("Idempotency-Key 须为 1–64 个可见 ASCII 字符（建议使用 UUID）")
        record_key = f"{caller.username}:{idempotency_key}"
        async with db.session() as session:
            record = await repository.get_idempotency_record(session, record_key)
        if record is not None:
            return _replayed(record, request_hash)
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
                record = await repository.get_idempotency_record(session, record_key)
            if record is not None:
                return _replayed(record, request_hash)
            raise
    return result


async def purge_idempotency(db: Database, before: datetime) -> int:
    """Forget the responses kept for Idempotency-Keys made before ``before``; returns how many."""
    async with db.transaction() as session:
        return await repository.delete_idempotency_records(session, before)


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


# ------------------------------------------------------------------------------------------------ the web


def summary_fields(row: Inspection) -> dict[str, Any]:
    return {**row.model_dump(), "inspectors": inspectors_of(row)}


def evidence_public(row: EvidenceFile) -> EvidencePublic:
    return EvidencePublic.model_validate({**row.model_dump(), "inspection_id": row.owner_id})


async def assignments(session: AsyncSession, caller: Caller, since: datetime | None) -> Assignments:
    """What the calling inspector's phone downloads: its planned and in-progress inspections (changed since
    ``since``, with ``SYNC_OVERLAP``), and the ids of every one assigned to it now."""
    require_regulator(caller)
    cursor = utcnow()
    rows = [
        (r, u) for r, u in await repository.assigned(session, caller) if caller.username in inspectors_of(r)
    ]
    changed_after = since - SYNC_OVERLAP if since is not None else None
    items = []
    for row, unit in rows:
        if changed_after is not None and as_utc(row.updated_at) < changed_after:
            continue
        checklist = loads(row.checklist, [])
        template, version = row.template, row.template_version
        if not checklist and unit is not None and unit.kind in ("production", "sales"):
            # Not frozen by whoever planned it: shown as it will be frozen at the first operation.
            template, version, checklist = checklists.build_checklist(
                unit.kind, loads(unit.risk_points, []), region_code=unit.region_code
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
                    **summary_fields(row),
                    "template": template,
                    "template_version": version,
                    "unit": unit_public,
                    "checklist": checklist,
                    "results": loads(row.results, {}),
                }
            )
        )
    return Assignments(cursor=cursor.isoformat(), items=items, assigned_ids=[r.id for r, _ in rows])


async def list_inspections(
    session: AsyncSession,
    caller: Caller,
    *,
    status: str | None,
    enterprise_id: str | None,
    trigger: str | None,
    cursor: str | None,
    limit: int,
) -> Page[InspectionSummary]:
    rows, next_cursor = await repository.list_readable(
        session,
        caller,
        status=status,
        enterprise_id=enterprise_id,
        trigger=trigger,
        cursor=cursor,
        limit=limit,
    )
    return Page[InspectionSummary](
        items=[InspectionSummary.model_validate(summary_fields(r)) for r in rows], next_cursor=next_cursor
    )


async def detail(session: AsyncSession, row: Inspection) -> InspectionDetail:
    """The inspection's detail after a change, from the ORM objects of the transaction."""
    findings = await repository.findings_of(session, row.id)
    files = await repository.evidence_of(session, row.id)
    revisions = await repository.revision_count(session, row.id)
    return detail_public(
        row.model_dump(),
        findings=[f.model_dump() for f in findings],
        evidence=[e.model_dump() for e in files],
        revisions=revisions,
    )


async def readable_detail(session: AsyncSession, caller: Caller, inspection_id: str) -> InspectionDetail:
    """GET of one inspection: the visit, its findings, evidence and revision count in one statement."""
    record = await inspection_repository.get_readable_inspection(session, caller, inspection_id)
    if record is None:
        raise InspectionNotFound()
    return detail_public(
        record.inspection._mapping,
        findings=record.findings,
        evidence=record.evidence,
        revisions=record.revisions,
    )


def detail_public(
    fields: Mapping[str, Any],
    *,
    findings: list[dict[str, Any]],
    evidence: list[dict[str, Any]],
    revisions: int,
) -> InspectionDetail:
    return InspectionDetail.model_validate(
        {
            **fields,
            "inspectors": list(loads(fields["inspectors"], [])),
            "checklist": loads(fields["checklist"], []),
            "results": loads(fields["results"], {}),
            "findings": [FindingBrief.model_validate(f) for f in findings],
            "evidence": [
                EvidencePublic.model_validate({**e, "inspection_id": fields["id"]}) for e in evidence
            ],
            "revisions": revisions,
        }
    )


async def review(
    *, session: AsyncSession, caller: Caller, inspection_id: str, data: ReviewCreate
) -> Inspection:
    """审核: submitted → reviewed, by a regulator who was not one of its inspectors; a revision too."""
    row = await readable(session, caller, inspection_id)
    require_regulator(caller)
    if caller.username in inspectors_of(row):
        raise ReviewerIsInspector("请由未参与本次检查的监管人员审核")
    if row.status == "reviewed":
        raise AlreadyReviewed(f"已由 {row.reviewed_by} 审核", current_version=row.version)
    if row.status != "submitted":
        raise NotSubmitted(f"检查状态：{row.status}", current_version=row.version)
    if data.base_version is not None and data.base_version != row.version:
        raise VersionConflict(
            f"审核依据的版本 {data.base_version} 已过期，当前版本 {row.version}",
            current_version=row.version,
        )
    now = utcnow()
    row.version += 1
    row.status, row.reviewed_by, row.reviewed_at, row.review_note = (
        "reviewed",
        caller.username,
        now,
        data.note,
    )
    row.updated_at = now
    session.add(
        InspectionRevision(
            id=new_id(),
            inspection_id=row.id,
            version=row.version,
            device_id=None,
            device_seq=0,
            body=json.dumps({"type": "review", "note": data.note}, ensure_ascii=False),
            made_by=caller.username,
            received_at=now,
        )
    )
    await session.flush()
    return row


async def may_add_evidence(session: AsyncSession, caller: Caller, inspection_id: str, retry: bool) -> None:
    """``evidence.Admit`` of an inspection: only its inspectors, and not after the review (but a retry)."""
    row = await readable(session, caller, inspection_id)
    require_regulator(caller)
    if caller.username not in inspectors_of(row):
        raise NotAssigned("只有该检查的执法人员可以上传现场证据")
    if not retry and row.status == "reviewed":
        raise AlreadyReviewed("检查已审核，不能再补充证据")
