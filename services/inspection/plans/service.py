"""The roster, the double-random plans and the half-year visit duty: what ``services.inspection.plans``
describes. The draw itself is ``services.inspection.draw`` (plain functions); the queries are in
``plans.repository``."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common import draw as common_draw
from services.common.auth import Caller, RegulatorOnly
from services.common.db import utcnow
from services.common.errors import Conflict, Forbidden, Invalid, NotFound
from services.common.events import PLAN_PUBLISHED, PlanPublished
from services.common.ids import new_id
from services.common.messaging import emit
from services.common.pagination import Page
from services.common.regions import is_valid_region, level_of, prefix_of
from services.inspection import draw
from services.inspection import repository as inspection_repository
from services.inspection.checklists import checklist_for
from services.inspection.models import Inspection, InspectionPlan, Inspector, KnownEnterprise, PlanEntry
from services.inspection.plans import repository
from services.inspection.plans.schemas import (
    ConflictIn,
    ConflictPublic,
    InspectorIn,
    InspectorPublic,
    PlanCreate,
    PlanEntryPublic,
    PlanPublic,
    PlanSummaryPublic,
    PlanVerification,
    VerifyMismatch,
    VisitDutyPublic,
)

CLOSED_STATUSES = ("deregistered", "revoked", "moved_out")  # 注销、吊销、迁出
KINDS = ("production", "sales")


# ------------------------------------------------------------------------------------------------ errors


class OutOfJurisdiction(Forbidden):
    code, title = "REGION_OUT_OF_JURISDICTION", "该行政区划不在您的管辖范围内"


class RegionInvalid(Invalid):
    code, title = "REGION_NOT_COUNTY_OR_STATION", "须为县级行政区划代码或市场监管所代码"


class InspectorNotFound(NotFound):
    code, title = "INSPECTOR_NOT_FOUND", "执法检查人员不存在或不在您的管辖范围内"


class InspectorTaken(Conflict):
    code, title = "INSPECTOR_EXISTS", "该用户名已在执法检查人员名录中"


class EnterpriseNotKnown(NotFound):
    code, title = "ENTERPRISE_NOT_FOUND", "单位不存在、尚未同步或不在您的管辖范围内"


class ConflictDeclared(Conflict):
    code, title = "INSPECTOR_CONFLICT_EXISTS", "已登记该执法人员与该单位的利害关系"


class ConflictNotFound(NotFound):
    code, title = "INSPECTOR_CONFLICT_NOT_FOUND", "未登记该执法人员与该单位的利害关系"


class PeriodInvalid(Invalid):
    code, title = "PLAN_PERIOD_INVALID", "检查计划的起止日期有误"


class PlanNotFound(NotFound):
    code, title = "PLAN_NOT_FOUND", "检查计划不存在或不在您的管辖范围内"


class PlanPublishedAlready(Conflict):
    code, title = "PLAN_ALREADY_PUBLISHED", "检查计划已公布，不可更改"


class PlanUnstaffed(Conflict):
    code, title = "PLAN_UNSTAFFED", "有单位可抽取的执法检查人员不足两名，计划不能公布"


class PlanUnitsAlreadyPlanned(Conflict):
    code, title = "PLAN_UNITS_ALREADY_PLANNED", "有单位已列入其他已公布的检查计划且尚未检查完毕，计划不能公布"


# ------------------------------------------------------------------------------------------------ scoping


def _regulator(caller: Caller) -> None:
    if not caller.is_regulator:
        raise RegulatorOnly("企业用户不能办理执法检查人员和检查计划事项")


def _check_region(caller: Caller, code: str, *, field: str = "region_code") -> None:
    """A county (6 digits) or station (9 digits) code in the caller's jurisdiction; 403 outside it."""
    _regulator(caller)
    level = level_of(code)
    if level not in ("county", "station") or not is_valid_region(code[:6]) or level_of(code[:6]) != "county":
        raise RegionInvalid(f"{code} 不是县级行政区划代码或市场监管所代码", field=field)
    if not code.startswith(prefix_of(caller.region_code)):
        raise OutOfJurisdiction(f"{code} 不在您的管辖范围内")


def _check_query_region(caller: Caller, region: str | None) -> None:
    """An optional ``region`` query (county/city/province or station): inside the jurisdiction, or one of
    the regions that contain it; 403 otherwise."""
    if region is None:
        return
    if not (region.startswith(prefix_of(caller.region_code)) or caller.region_code.startswith(region)):
        raise OutOfJurisdiction(f"{region} 不在您的管辖范围内")


# ------------------------------------------------------------------------------------------------ roster


def _conflicts(row: Inspector) -> list[dict[str, Any]]:
    items = json.loads(row.conflicts or "[]")
    return [item if isinstance(item, dict) else {"enterprise_id": item, "reason": ""} for item in items]


def inspector_public(row: Inspector) -> InspectorPublic:
    return InspectorPublic(
        username=row.username,
        name=row.name,
        region_code=row.region_code,
        active=row.active,
        conflicts=[ConflictPublic.model_validate(item) for item in _conflicts(row)],
        updated_at=row.updated_at,
    )


async def readable_inspector(
    session: AsyncSession, caller: Caller, username: str, *, lock: bool = False
) -> Inspector:
    _regulator(caller)
    row = await repository.get_readable_inspector(session, caller, username, lock=lock)
    if row is None:
        raise InspectorNotFound()
    return row


async def put_inspector(
    *, session: AsyncSession, caller: Caller, username: str, data: InspectorIn
) -> tuple[Inspector, bool]:
    """Enter or update an inspector of the roster; returns it and whether it was created."""
    _check_region(caller, data.region_code)
    row = await repository.get_inspector_for_update(session, username)
    if row is not None and not row.region_code.startswith(prefix_of(caller.region_code)):
        raise InspectorNotFound()  # another jurisdiction's inspector: not the caller's to see
    created = row is None
    if row is None:
        row = Inspector(username=username, name=data.name, region_code=data.region_code, updated_at=utcnow())
        session.add(row)
    row.name, row.region_code, row.active, row.updated_at = data.name, data.region_code, data.active, utcnow()
    try:
        await session.flush()
    except IntegrityError as exc:  # entered at the same moment by someone else
        raise InspectorTaken(f"{username} 已被登记") from exc
    return row, created


async def declare_conflict(
    *, session: AsyncSession, caller: Caller, username: str, data: ConflictIn
) -> Inspector:
    """利害关系回避: the inspector is never drawn for this unit."""
    row = await readable_inspector(session, caller, username, lock=True)
    unit = await inspection_repository.get_readable_enterprise(session, caller, data.enterprise_id)
    if unit is None:
        raise EnterpriseNotKnown()
    items = _conflicts(row)
    if any(item["enterprise_id"] == unit.id for item in items):
        raise ConflictDeclared(f"已登记 {row.name} 与 {unit.name or unit.id} 的利害关系")
    items.append(
        {
            "enterprise_id": unit.id,
            "reason": data.reason.strip(),
            "declared_by": caller.username,
            "declared_at": utcnow().isoformat(),
        }
    )
    row.conflicts, row.updated_at = json.dumps(items, ensure_ascii=False), utcnow()
    return row


async def withdraw_conflict(
    *, session: AsyncSession, caller: Caller, username: str, enterprise_id: str
) -> Inspector:
    row = await readable_inspector(session, caller, username, lock=True)
    items = _conflicts(row)
    kept = [item for item in items if item["enterprise_id"] != enterprise_id]
    if len(kept) == len(items):
        raise ConflictNotFound()
    row.conflicts, row.updated_at = json.dumps(kept, ensure_ascii=False), utcnow()
    return row


# ------------------------------------------------------------------------------------------------ plans


def _summary(plan: InspectionPlan) -> dict[str, Any]:
    return json.loads(plan.summary or "{}")


async def create_plan(*, session: AsyncSession, caller: Caller, data: PlanCreate) -> InspectionPlan:
    """Draw a plan (a draft): must-visit units, the random draw at ``ratio``, two inspectors per unit."""
    _check_region(caller, data.region_code)
    if data.period_end < data.period_start:
        raise PeriodInvalid("结束日期不能早于开始日期", field="period_end")
    if (data.period_end - data.period_start).days > 366:
        raise PeriodInvalid("检查计划的期间不能超过一年", field="period_end")
    scope = (
        repository.units_of(data.region_code),
        inspection_repository.enterprises_visible(caller),
        KnownEnterprise.operating_status.not_in(CLOSED_STATUSES),  # type: ignore[attr-defined]
    )
    units = await repository.units(session, *scope, ordered=True)
    visits = await repository.last_visits(session, scope[0] & scope[1] & scope[2])
    must_visit = draw.select_must_visit(
        [
            {
                "id": unit.id,
                "locked": unit.locked,
                "supervision_class": unit.supervision_class,
                "last_visit": visits[unit.id][0] if unit.id in visits else None,
                "locked_since": unit.locked_since,
                "visit_every_months": unit.visit_every_months,
            }
            for unit in units
        ],
        by=data.period_end,
    )
    must_ids = {unit_id for unit_id, _, _ in must_visit}
    pool = {
        unit.id
        for unit in units
        if unit.id not in must_ids and unit.operating_status == "normal" and unit.kind in KINDS
    }
    # A unit another plan will visit anyway is left out, and the record says so.
    taken = await repository.open_plan_inspections(session, repository.unit_ids(*scope))
    already_planned = tuple(
        draw.AlreadyPlanned(enterprise_id=unit_id, inspection_id=taken[unit_id][0], plan_id=taken[unit_id][1])
        for unit_id in sorted((must_ids | pool) & set(taken))
    )
    must_visit = [item for item in must_visit if item[0] not in taken]
    candidates = tuple(sorted(pool - set(taken)))
    roster = await repository.roster(session, data.region_code)
    seed = data.seed or common_draw.new_seed()
    full = draw.DrawInputs(
        seed=seed,
        jurisdiction=data.region_code,
        candidates=candidates,
        count=common_draw.draw_count(data.ratio, len(candidates)),
        must_visit=tuple(unit_id for unit_id, _, _ in must_visit),
        roster=tuple(
            draw.RosterEntry(
                username=row.username,
                region_code=row.region_code,
                active=row.active,
                conflicts=frozenset(item["enterprise_id"] for item in _conflicts(row)),
            )
            for row in roster
        ),
        responsible={unit.id: unit.responsible_inspector for unit in units if unit.responsible_inspector},
        exclude_responsible=data.exclude_responsible_inspector,
        already_planned=already_planned,
    )
    # Record only what bears on the plan's units (the pool in full): the same draw, a smaller record.
    planned = set(full.must_visit) | set(draw.run(full).drawn)
    inputs = draw.DrawInputs(
        seed=full.seed,
        jurisdiction=full.jurisdiction,
        candidates=full.candidates,
        count=full.count,
        must_visit=full.must_visit,
        roster=tuple(
            draw.RosterEntry(entry.username, entry.region_code, entry.active, entry.conflicts & planned)
            for entry in full.roster
        ),
        responsible={unit: who for unit, who in full.responsible.items() if unit in planned},
        exclude_responsible=full.exclude_responsible,
        already_planned=full.already_planned,
    )
    result = draw.run(inputs)
    plan = InspectionPlan(
        id=new_id(),
        region_code=data.region_code,
        period_start=data.period_start,
        period_end=data.period_end,
        ratio=data.ratio,
        seed=seed,
        algorithm=draw.ALGORITHM,
        status="draft",
        created_by=caller.username,
        created_at=utcnow(),
        summary=json.dumps(
            {
                "inputs": draw.inputs_to_json(inputs),
                "inputs_sha256": draw.inputs_digest(inputs),
                "due_on": {unit: due.isoformat() if due else None for unit, _, due in must_visit},
                "drawn": list(result.drawn),
                "eligible": {unit: staffed.eligible for unit, staffed in result.staffing.items()},
            },
            ensure_ascii=False,
        ),
    )
    session.add(plan)
    await session.flush()  # the plan before its entries (foreign key)
    reasons = {unit_id: reason for unit_id, reason, _ in must_visit}
    for unit_id, staffed in result.staffing.items():
        session.add(
            PlanEntry(
                id=new_id(),
                plan_id=plan.id,
                enterprise_id=unit_id,
                reason=reasons.get(unit_id, "random"),
                inspectors=json.dumps(list(staffed.inspectors)),
            )
        )
    return plan


async def readable_plan(
    session: AsyncSession, caller: Caller, plan_id: str, *, lock: bool = False
) -> InspectionPlan:
    _regulator(caller)
    plan = await repository.get_readable_plan(session, caller, plan_id, lock=lock)
    if plan is None:
        raise PlanNotFound()
    return plan


def summary_public(plan: InspectionPlan) -> PlanSummaryPublic:
    summary = _summary(plan)
    inputs = summary.get("inputs", {})
    eligible = summary.get("eligible", {})
    return PlanSummaryPublic(
        id=plan.id,
        region_code=plan.region_code,
        period_start=plan.period_start,
        period_end=plan.period_end,
        ratio=plan.ratio,
        seed=plan.seed,
        algorithm=plan.algorithm,
        status=plan.status,  # type: ignore[arg-type]
        exclude_responsible_inspector=inputs.get("exclude_responsible", True),
        candidate_count=len(inputs.get("candidates", [])),
        drawn_count=len(summary.get("drawn", [])),
        must_visit_count=len(inputs.get("must_visit", [])),
        flagged_count=sum(1 for n in eligible.values() if n < draw.INSPECTORS_PER_VISIT),
        inputs_sha256=summary.get("inputs_sha256", ""),
        created_by=plan.created_by,
        created_at=plan.created_at,
        published_at=plan.published_at,
    )


async def plan_public(session: AsyncSession, plan: InspectionPlan) -> PlanPublic:
    summary = _summary(plan)
    entries = await repository.entries(session, plan.id)
    ids = [entry.enterprise_id for entry in entries]
    units = await repository.units_by_id(session, ids)
    usernames = {name for entry in entries for name in json.loads(entry.inspectors)}
    names = await repository.inspector_names(session, usernames)
    position = {unit: n for n, unit in enumerate(summary.get("drawn", []), start=1)}
    due = summary.get("due_on", {})
    eligible = summary.get("eligible", {})

    def public(entry: PlanEntry) -> PlanEntryPublic:
        unit = units.get(entry.enterprise_id)
        inspectors = json.loads(entry.inspectors)
        return PlanEntryPublic(
            enterprise_id=entry.enterprise_id,
            name=unit.name if unit else "",
            uscc=unit.uscc if unit else None,
            kind=unit.kind if unit else "unknown",
            supervision_class=unit.supervision_class if unit else "routine",
            locked=unit.locked if unit else False,
            reason=entry.reason,  # type: ignore[arg-type]
            due_on=due.get(entry.enterprise_id),
            draw_position=position.get(entry.enterprise_id),
            inspectors=inspectors,
            inspector_names=[names.get(username, username) for username in inspectors],
            eligible_inspectors=eligible.get(entry.enterprise_id, 0),
            flagged=len(inspectors) < draw.INSPECTORS_PER_VISIT,
            inspection_id=entry.inspection_id,
        )

    # Must-visit units first, by due date (unknown first); then the drawn ones in draw order.
    ordered = sorted(
        entries,
        key=lambda e: (
            e.reason == "random",
            position.get(e.enterprise_id, 0),
            due.get(e.enterprise_id) or "",
            e.enterprise_id,
        ),
    )
    return PlanPublic(
        **summary_public(plan).model_dump(),
        entries=[public(entry) for entry in ordered],
        inputs=summary.get("inputs", {}),
    )


async def publish_plan(*, session: AsyncSession, caller: Caller, plan_id: str) -> InspectionPlan:
    """公布: one ``planned`` inspection per unit, with its inspectors and its frozen checklist."""
    plan = await readable_plan(session, caller, plan_id, lock=True)
    if plan.status != "draft":
        raise PlanPublishedAlready(f"检查计划已于 {plan.published_at} 公布")
    entries = await repository.entries(session, plan.id)
    unstaffed = [
        e.enterprise_id for e in entries if len(json.loads(e.inspectors)) < draw.INSPECTORS_PER_VISIT
    ]
    if unstaffed:
        raise PlanUnstaffed(
            f"{len(unstaffed)} 家单位可抽取的执法检查人员不足两名：请补充人员名录后重新制定计划",
            enterprise_ids=unstaffed,
        )
    now = utcnow()
    # Only a draft becomes published, once: two publishers at the same moment cannot both pass.
    if not await repository.claim_publication(session, plan.id, now):
        raise PlanPublishedAlready("检查计划已公布")
    # A plan published since this draft was drawn may hold its units: checked again after the claim (on SQLite
    # the first write, which holds the database's write lock until commit) and under the county's lock (on
    # PostgreSQL), so of two overlapping plans published at once the second sees the first's inspections.
    # Refusing rolls the claim back with everything else.
    await repository.lock_county_plans(session, plan.region_code)
    taken = await repository.open_plan_inspections(session, [e.enterprise_id for e in entries])
    if taken:
        raise PlanUnitsAlreadyPlanned(
            f"{len(taken)} 家单位在本草稿抽取后已列入其他检查计划且尚未检查完毕：请重新制定计划（重新抽取）",
            enterprise_ids=sorted(taken),
        )
    plan.status, plan.published_at = "published", now
    units = await repository.units_by_id(session, [e.enterprise_id for e in entries])
    for entry in entries:
        unit = units[entry.enterprise_id]
        template, version, items = checklist_for(unit)
        inspection = Inspection(
            id=new_id(),
            enterprise_id=unit.id,
            region_code=unit.region_code,
            plan_id=plan.id,
            trigger="plan",
            trigger_ref=plan.id,
            template=template,
            template_version=version,
            checklist=json.dumps(items, ensure_ascii=False),
            results="{}",
            status="planned",
            inspectors=entry.inspectors,
            created_by=caller.username,
            created_at=now,
            updated_at=now,
        )
        session.add(inspection)
        entry.inspection_id = inspection.id
    summary = _summary(plan)
    emit(
        session,
        PLAN_PUBLISHED,
        PlanPublished(
            plan_id=plan.id,
            region_code=plan.region_code,
            period_start=plan.period_start,
            period_end=plan.period_end,
            seed=plan.seed,
            algorithm=plan.algorithm,
            must_visit=len(summary["inputs"]["must_visit"]),
            drawn=len(summary["drawn"]),
            candidate_count=len(summary["inputs"]["candidates"]),
            inputs_sha256=summary["inputs_sha256"],
        ),
        region=plan.region_code,
        enterprise_id=None,
    )
    return plan


async def verify_plan(session: AsyncSession, plan: InspectionPlan) -> PlanVerification:
    """Re-run the draw from the recorded seed and inputs and compare it with the plan's units and inspectors."""
    summary = _summary(plan)
    entries = {e.enterprise_id: json.loads(e.inspectors) for e in await repository.entries(session, plan.id)}
    try:
        inputs = draw.inputs_from_json(summary["inputs"])
    except (KeyError, TypeError, ValueError):
        return PlanVerification(
            plan_id=plan.id,
            algorithm=plan.algorithm,
            seed=plan.seed,
            inputs_sha256=summary.get("inputs_sha256", ""),
            inputs_intact=False,
            matches=False,
            drawn=[],
            mismatches=[],
        )
    result = draw.run(inputs)
    recomputed = {unit: list(staffed.inspectors) for unit, staffed in result.staffing.items()}
    mismatches = [
        VerifyMismatch(enterprise_id=unit, recorded=entries.get(unit), recomputed=recomputed.get(unit))
        for unit in sorted(set(entries) | set(recomputed))
        if entries.get(unit) != recomputed.get(unit)
    ]
    intact = draw.inputs_digest(inputs) == summary.get("inputs_sha256")
    same_seed = (inputs.seed, inputs.algorithm) == (plan.seed, plan.algorithm)
    same_draw = list(result.drawn) == summary.get("drawn")
    return PlanVerification(
        plan_id=plan.id,
        algorithm=plan.algorithm,
        seed=plan.seed,
        inputs_sha256=summary.get("inputs_sha256", ""),
        inputs_intact=intact,
        matches=intact and same_seed and same_draw and not mismatches,
        drawn=list(result.drawn),
        mismatches=mismatches,
    )


# ------------------------------------------------------------------------------------------------ visit duty


def _duty_cursor(due: date | None, unit_id: str) -> str:
    payload = {"due": due.isoformat() if due else None, "after": unit_id}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _duty_after(cursor: str) -> tuple[date, str]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        due = date.fromisoformat(payload["due"]) if payload["due"] is not None else date.min
        if not isinstance(payload["after"], str):
            raise TypeError("not an id")
        return due, payload["after"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise Invalid("分页游标无效，请使用上一页返回的 next_cursor", field="cursor") from exc


async def visit_duty(
    *,
    session: AsyncSession,
    caller: Caller,
    region: str | None,
    overdue_only: bool,
    as_of: date,
    cursor: str | None,
    limit: int,
) -> Page[VisitDutyPublic]:
    """半年内现场检查不少于1次: the locked units of the jurisdiction, by next due date (owed-now first)."""
    _regulator(caller)
    _check_query_region(caller, region)
    condition = (
        inspection_repository.enterprises_visible(caller)
        & KnownEnterprise.locked.is_(True)  # type: ignore[attr-defined]
        & KnownEnterprise.operating_status.not_in(CLOSED_STATUSES)  # type: ignore[attr-defined]
    )
    for extra in repository.region_condition(region):
        condition = condition & extra
    units = await repository.units(session, condition)
    visits = await repository.last_visits(session, condition)
    rows: list[tuple[tuple[date, str], VisitDutyPublic]] = []
    for unit in units:
        last = visits.get(unit.id)
        due = draw.visit_due_on(
            last_visit=last[0] if last else None,
            since=unit.locked_since,
            every_months=unit.visit_every_months,
        )
        overdue = due is None or due < as_of
        if overdue_only and not overdue:
            continue
        item = VisitDutyPublic(
            enterprise_id=unit.id,
            name=unit.name,
            uscc=unit.uscc,
            region_code=unit.region_code,
            station_code=unit.station_code,
            supervision_class=unit.supervision_class,
            operating_status=unit.operating_status,
            responsible_inspector=unit.responsible_inspector,
            visit_every_months=unit.visit_every_months or draw.DEFAULT_VISIT_EVERY_MONTHS,
            locked_since=unit.locked_since,
            last_visit_on=last[0] if last else None,
            last_inspection_id=last[1] if last else None,
            next_due_on=due,
            overdue=overdue,
            days_overdue=draw.days_overdue(due, as_of),
        )
        rows.append(((due or date.min, unit.id), item))
    rows.sort(key=lambda row: row[0])
    if cursor:
        after = _duty_after(cursor)
        rows = [row for row in rows if row[0] > after]
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last_item = page[-1][1]
        next_cursor = _duty_cursor(last_item.next_due_on, last_item.enterprise_id)
    return Page[VisitDutyPublic](items=[item for _, item in page], next_cursor=next_cursor)


# ------------------------------------------------------------------------------------------------ lists


async def list_inspectors(
    *,
    session: AsyncSession,
    caller: Caller,
    region: str | None,
    active: bool | None,
    cursor: str | None,
    limit: int,
) -> Page[InspectorPublic]:
    _regulator(caller)
    _check_query_region(caller, region)
    rows, next_cursor = await repository.list_inspectors(
        session, caller, region=region, active=active, cursor=cursor, limit=limit
    )
    return Page[InspectorPublic](items=[inspector_public(r) for r in rows], next_cursor=next_cursor)


async def list_plans(
    *,
    session: AsyncSession,
    caller: Caller,
    region: str | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[PlanSummaryPublic]:
    _regulator(caller)
    _check_query_region(caller, region)
    rows, next_cursor = await repository.list_plans(
        session, caller, region=region, status=status, cursor=cursor, limit=limit
    )
    return Page[PlanSummaryPublic](items=[summary_public(r) for r in rows], next_cursor=next_cursor)
