"""执法检查人员名录、双随机检查计划、半年现场检查责任 (roster, double-random plans, half-year visit duty).

* Roster: inspectors of a county or a station (``region_code``), active or not, with their declared
  conflicts of interest (利害关系回避). A regulator manages the inspectors whose region lies in its own.
* Plans: for a county or station and a period, the units that must be visited (locked, special and key units
  whose visit falls due by the period's end — ``draw.select_must_visit``) plus a draw of the remaining
  active units (``operating_status`` normal, production or sales) at ``ratio``, rounded up; two inspectors
  per unit from the roster of the plan's region. The draw is ``draw.ALGORITHM``; the seed (generated, or given
  by the bureau, e.g. a public lottery number) and every input are recorded with the plan, so that
  ``GET /plans/{id}/verify`` (or anyone with ``GET /plans/{id}``) can re-run it. Drafts are never deleted: every
  draw made stays listed, so a bureau cannot quietly draw again until it likes the result. Publishing
  creates one ``planned`` inspection per unit and announces ``inspection.plan.published``; it is refused
  while a unit has fewer than two eligible inspectors; a published plan never changes.
* One open visit per unit: a unit that already has an open (planned or in-progress) inspection of another
  plan — a county's and one of its stations', or two campaigns of a county — is left out of the draw (neither
  must-visit nor candidate) and listed in ``inputs.already_planned`` (covered by ``inputs_sha256``). Publishing
  checks again, as another plan may have been published since the draft was drawn: 409
  ``PLAN_UNITS_ALREADY_PLANNED`` with the units, and nothing is written; the bureau draws a new plan. Once that
  inspection is submitted or reviewed, the unit may be planned again.
* Visit duty (半年内现场检查不少于1次): each locked unit's last on-site visit (latest submitted or reviewed
  inspection, on the device's submission date or else the date received), the next due date
  (``draw.visit_due_on``) and whether it is overdue.

Units closed for good (注销、吊销、迁出) are neither planned nor tracked; suspended ones (停产、停业) are left
out of the random draw but keep their must-visit duty.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, StringConstraints, field_validator
from sqlalchemy import DateTime, func, select, text, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import ArrivalsDep, DbDep
from services.common.arrivals import known_unit
from services.common.auth import Caller, CallerDep
from services.common.db import CHINA, UTCDateTime, as_utc, today_cn, utcnow
from services.common.errors import Conflict, Forbidden, Invalid, NotFound
from services.common.events import PLAN_PUBLISHED, PlanPublished
from services.common.ids import new_id
from services.common.messaging import emit
from services.common.pagination import MAX_LIMIT, Page, keyset
from services.common.regions import is_valid_region, level_of, prefix_of
from services.inspection import draw, repository
from services.inspection.checklists import checklist_for
from services.inspection.models import Inspection, InspectionPlan, Inspector, KnownEnterprise, PlanEntry

router = APIRouter(tags=["plans 双随机检查计划"])

CLOSED_STATUSES = ("deregistered", "revoked", "moved_out")  # 注销、吊销、迁出
KINDS = ("production", "sales")
VISITED_STATUSES = ("submitted", "reviewed")
# An inspection still to be made: a unit with one from a plan is not planned again until it is done.
OPEN_STATUSES = ("planned", "in_progress")
REASONS = Literal["locked_due", "special_due", "key_due", "random"]


# ------------------------------------------------------------------------------------------------ errors


class RegulatorOnly(Forbidden):
    code, title = "REGULATOR_ONLY", "仅监管部门可以办理"


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


# ------------------------------------------------------------------------------------------------ schemas

Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
RegionCode = Annotated[str, StringConstraints(pattern=r"^\d{6}(\d{3})?$")]


class InspectorIn(BaseModel):
    name: str = Field(min_length=1, max_length=50, title="姓名")
    region_code: RegionCode = Field(title="所属县级局或市场监管所代码（须在管辖范围内）")
    active: bool = Field(default=True, title="在岗（可被抽取）")

    @field_validator("name")
    @classmethod
    def _strip(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("姓名不能为空")
        return value.strip()


class ConflictIn(BaseModel):
    enterprise_id: str = Field(min_length=1, max_length=36, title="有利害关系的单位 id")
    reason: str = Field(min_length=1, max_length=500, title="回避原因")


class ConflictPublic(BaseModel):
    enterprise_id: str
    reason: str
    declared_by: str | None = None
    declared_at: UTCDateTime | None = None


class InspectorPublic(BaseModel):
    username: str
    name: str
    region_code: str
    active: bool
    conflicts: list[ConflictPublic]
    updated_at: UTCDateTime


class PlanCreate(BaseModel):
    region_code: RegionCode = Field(title="计划的县级局或市场监管所代码（须在管辖范围内）")
    period_start: date = Field(title="计划开始日期")
    period_end: date = Field(title="计划结束日期（到期应检的单位以此日为准）")
    ratio: float = Field(ge=0, le=1, title="其余在营单位的抽取比例（0–1，向上取整）")
    seed: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        title="随机种子（不填则由系统随机生成；可用公开的彩票开奖号码等）",
    )
    exclude_responsible_inspector: bool = Field(
        default=True, title="不抽取单位的监管责任人（按本省要求，默认排除）"
    )

    @field_validator("seed")
    @classmethod
    def _seed(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("随机种子不能为空白")
        return value.strip() if value is not None else None


class PlanEntryPublic(BaseModel):
    enterprise_id: str
    name: str
    uscc: str | None
    kind: str
    supervision_class: str
    locked: bool
    reason: REASONS = Field(
        description="locked_due 锁定单位到期应检 / special_due / key_due / random 随机抽取"
    )
    due_on: date | None = Field(description="应检日期（必检单位；空表示未曾检查且锁定日期不详：当即应检）")
    draw_position: int | None = Field(description="随机抽取的顺位（1 起）")
    inspectors: list[str]
    inspector_names: list[str]
    eligible_inspectors: int = Field(description="可抽取的执法检查人员数")
    flagged: bool = Field(description="可抽取人员不足两名，未分配")
    inspection_id: str | None


class PlanSummaryPublic(BaseModel):
    id: str
    region_code: str
    period_start: date
    period_end: date
    ratio: float
    seed: str
    algorithm: str
    status: Literal["draft", "published"]
    exclude_responsible_inspector: bool
    candidate_count: int = Field(description="参与随机抽取的单位数")
    drawn_count: int
    must_visit_count: int
    flagged_count: int
    inputs_sha256: str = Field(description="抽取输入（inputs）规范化 JSON 的 SHA-256")
    created_by: str
    created_at: UTCDateTime
    published_at: UTCDateTime | None


class PlanPublic(PlanSummaryPublic):
    entries: list[PlanEntryPublic]
    inputs: dict[str, Any] = Field(
        description="重新抽取所需的全部输入：种子、候选单位、人员名录、回避关系、监管责任人；"
        "already_planned：已有其他计划未完成的检查任务而未参与本次抽取的单位（enterprise_id、inspection_id、plan_id）"
    )


class VerifyMismatch(BaseModel):
    enterprise_id: str
    recorded: list[str] | None = Field(description="计划记录的执法人员（None：计划中无此单位）")
    recomputed: list[str] | None = Field(description="重新抽取的执法人员（None：重新抽取无此单位）")


class PlanVerification(BaseModel):
    plan_id: str
    algorithm: str
    seed: str
    inputs_sha256: str
    inputs_intact: bool = Field(description="记录的输入与公布的摘要一致")
    matches: bool = Field(description="按记录的种子与输入重新抽取，结果与计划一致")
    drawn: list[str] = Field(description="重新抽取的随机单位（按顺位）")
    mismatches: list[VerifyMismatch]


class VisitDutyPublic(BaseModel):
    enterprise_id: str
    name: str
    uscc: str | None
    region_code: str
    station_code: str | None
    supervision_class: str
    operating_status: str
    responsible_inspector: str | None
    visit_every_months: int
    locked_since: date | None
    last_visit_on: date | None = Field(description="最近一次现场检查日期")
    last_inspection_id: str | None
    next_due_on: date | None = Field(description="下次应检的最后日期（空：未曾检查且锁定日期不详，当即应检）")
    overdue: bool
    days_overdue: int | None


# ------------------------------------------------------------------------------------------------ scoping


def _regulator(caller: Caller) -> None:
    if not caller.is_regulator:
        raise RegulatorOnly("企业用户不能办理执法检查人员和检查计划事项")


def _in_scope(caller: Caller, column: Any) -> Any:
    """Rows of a region column (county or station code) lying in the caller's jurisdiction."""
    return column.startswith(prefix_of(caller.region_code))


def _check_region(caller: Caller, code: str, *, field: str = "region_code") -> None:
    """A county (6 digits) or station (9 digits) code in the caller's jurisdiction; 403 outside it."""
    _regulator(caller)
    level = level_of(code)
    if level not in ("county", "station") or not is_valid_region(code[:6]) or level_of(code[:6]) != "county":
        raise RegionInvalid(f"{code} 不是县级行政区划代码或市场监管所代码", field=field)
    if not code.startswith(prefix_of(caller.region_code)):
        raise OutOfJurisdiction(f"{code} 不在您的管辖范围内")


def _region_filter(caller: Caller, region: str | None) -> list[Any]:
    """Conditions on KnownEnterprise for an optional ``region`` query (county/city/province or station)."""
    if region is None:
        return []
    if not (region.startswith(prefix_of(caller.region_code)) or caller.region_code.startswith(region)):
        raise OutOfJurisdiction(f"{region} 不在您的管辖范围内")
    if len(region) == 9:
        return [KnownEnterprise.station_code == region]
    return [KnownEnterprise.region_code.startswith(prefix_of(region))]  # type: ignore[attr-defined]


def _units_of(region_code: str) -> Any:
    if len(region_code) == 9:
        return KnownEnterprise.station_code == region_code
    return KnownEnterprise.region_code == region_code


# ------------------------------------------------------------------------------------------------ roster


def _conflicts(row: Inspector) -> list[dict[str, Any]]:
    items = json.loads(row.conflicts or "[]")
    return [item if isinstance(item, dict) else {"enterprise_id": item, "reason": ""} for item in items]


def _inspector_public(row: Inspector) -> InspectorPublic:
    return InspectorPublic(
        username=row.username,
        name=row.name,
        region_code=row.region_code,
        active=row.active,
        conflicts=[ConflictPublic.model_validate(item) for item in _conflicts(row)],
        updated_at=row.updated_at,
    )


async def _readable_inspector(
    session: AsyncSession, caller: Caller, username: str, *, lock: bool = False
) -> Inspector:
    _regulator(caller)
    stmt = select(Inspector).where(Inspector.username == username, _in_scope(caller, Inspector.region_code))
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise InspectorNotFound()
    return row


async def put_inspector(
    *, session: AsyncSession, caller: Caller, username: str, data: InspectorIn
) -> tuple[Inspector, bool]:
    """Enter or update an inspector of the roster; returns it and whether it was created."""
    _check_region(caller, data.region_code)
    row = await session.get(Inspector, username, with_for_update=True)
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
    row = await _readable_inspector(session, caller, username, lock=True)
    unit = await repository.get_readable_enterprise(session, caller, data.enterprise_id)
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
    row = await _readable_inspector(session, caller, username, lock=True)
    items = _conflicts(row)
    kept = [item for item in items if item["enterprise_id"] != enterprise_id]
    if len(kept) == len(items):
        raise ConflictNotFound()
    row.conflicts, row.updated_at = json.dumps(kept, ensure_ascii=False), utcnow()
    return row


# ------------------------------------------------------------------------------------------------ visits


def _china_date(value: datetime) -> date:
    return as_utc(value).astimezone(CHINA).date()


async def last_visits(session: AsyncSession, units: Any) -> dict[str, tuple[date, str]]:
    """The latest on-site visit (submitted or reviewed inspection) of each unit matching ``units`` (a
    condition on KnownEnterprise): its date (device's submission, else receipt; China time) and id."""
    visited_at = type_coerce(
        func.coalesce(Inspection.device_submitted_at, Inspection.received_at), DateTime(timezone=True)
    )
    stmt = select(Inspection.enterprise_id, Inspection.id, visited_at).where(
        Inspection.status.in_(VISITED_STATUSES),  # type: ignore[attr-defined]
        Inspection.enterprise_id.in_(select(KnownEnterprise.id).where(units)),  # type: ignore[attr-defined]
        visited_at.is_not(None),
    )
    latest: dict[str, tuple[datetime, str]] = {}
    for enterprise_id, inspection_id, at in (await session.execute(stmt)).all():
        at = as_utc(at)
        if enterprise_id not in latest or (at, inspection_id) > latest[enterprise_id]:
            latest[enterprise_id] = (at, inspection_id)
    return {unit: (_china_date(at), inspection_id) for unit, (at, inspection_id) in latest.items()}


# ------------------------------------------------------------------------------------------------ plans


async def open_plan_inspections(session: AsyncSession, enterprise_ids: Any) -> dict[str, tuple[str, str]]:
    """Units among ``enterprise_ids`` (ids or a select of ids) with an open inspection of a plan: its id and
    its plan's, the earliest made when (from before this rule) there are several."""
    stmt = (
        select(Inspection.enterprise_id, Inspection.id, Inspection.plan_id)
        .where(
            Inspection.enterprise_id.in_(enterprise_ids),  # type: ignore[attr-defined]
            Inspection.plan_id.is_not(None),  # type: ignore[union-attr]
            Inspection.status.in_(OPEN_STATUSES),  # type: ignore[attr-defined]
        )
        .order_by(Inspection.created_at, Inspection.id)
    )
    found: dict[str, tuple[str, str]] = {}
    for unit, inspection_id, plan_id in (await session.execute(stmt)).all():
        found.setdefault(unit, (inspection_id, plan_id))
    return found


async def _lock_county_plans(session: AsyncSession, region_code: str) -> None:
    """Serialise the publication of plans of one county (its own and its stations': only they can share a
    unit), so that two plans published at the same moment cannot both plan a unit (PostgreSQL advisory lock
    for the transaction; SQLite serialises writers anyway, and the caller has written already)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"qsr-plan-publish:{region_code[:6]}"},
        )


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
        _units_of(data.region_code),
        repository.enterprises_visible(caller),
        KnownEnterprise.operating_status.not_in(CLOSED_STATUSES),  # type: ignore[attr-defined]
    )
    units = (
        (await session.execute(select(KnownEnterprise).where(*scope).order_by(KnownEnterprise.id)))
        .scalars()
        .all()
    )
    visits = await last_visits(session, scope[0] & scope[1] & scope[2])
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
    taken = await open_plan_inspections(session, select(KnownEnterprise.id).where(*scope))
    already_planned = tuple(
        draw.AlreadyPlanned(enterprise_id=unit_id, inspection_id=taken[unit_id][0], plan_id=taken[unit_id][1])
        for unit_id in sorted((must_ids | pool) & set(taken))
    )
    must_visit = [item for item in must_visit if item[0] not in taken]
    candidates = tuple(sorted(pool - set(taken)))
    roster = (
        (await session.execute(select(Inspector).where(Inspector.region_code.startswith(data.region_code))))  # type: ignore[attr-defined]
        .scalars()
        .all()
    )
    seed = data.seed or draw.new_seed()
    full = draw.DrawInputs(
        seed=seed,
        jurisdiction=data.region_code,
        candidates=candidates,
        count=draw.draw_count(data.ratio, len(candidates)),
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
    stmt = select(InspectionPlan).where(
        InspectionPlan.id == plan_id, _in_scope(caller, InspectionPlan.region_code)
    )
    if lock:
        stmt = stmt.with_for_update()
    plan = (await session.execute(stmt)).scalar_one_or_none()
    if plan is None:
        raise PlanNotFound()
    return plan


async def _entries(session: AsyncSession, plan_id: str) -> list[PlanEntry]:
    stmt = select(PlanEntry).where(PlanEntry.plan_id == plan_id).order_by(PlanEntry.enterprise_id)
    return list((await session.execute(stmt)).scalars().all())


def _summary_public(plan: InspectionPlan) -> PlanSummaryPublic:
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
    entries = await _entries(session, plan.id)
    ids = [entry.enterprise_id for entry in entries]
    units = {
        unit.id: unit
        for unit in (
            await session.execute(select(KnownEnterprise).where(KnownEnterprise.id.in_(ids)))
        ).scalars()  # type: ignore[attr-defined]
    }
    usernames = {name for entry in entries for name in json.loads(entry.inspectors)}
    names = dict(
        (
            await session.execute(
                select(Inspector.username, Inspector.name).where(Inspector.username.in_(usernames))  # type: ignore[attr-defined]
            )
        ).all()
    )
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
        **_summary_public(plan).model_dump(),
        entries=[public(entry) for entry in ordered],
        inputs=summary.get("inputs", {}),
    )


async def publish_plan(*, session: AsyncSession, caller: Caller, plan_id: str) -> InspectionPlan:
    """公布: one ``planned`` inspection per unit, with its inspectors and its frozen checklist."""
    plan = await readable_plan(session, caller, plan_id, lock=True)
    if plan.status != "draft":
        raise PlanPublishedAlready(f"检查计划已于 {plan.published_at} 公布")
    entries = await _entries(session, plan.id)
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
    claimed = await session.execute(
        update(InspectionPlan)
        .where(InspectionPlan.id == plan.id, InspectionPlan.status == "draft")  # type: ignore[arg-type]
        .values(status="published", published_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise PlanPublishedAlready("检查计划已公布")
    # A plan published since this draft was drawn may hold its units: checked again after the claim (on SQLite
    # the first write, which holds the database's write lock until commit) and under the county's lock (on
    # PostgreSQL), so of two overlapping plans published at once the second sees the first's inspections.
    # Refusing rolls the claim back with everything else.
    await _lock_county_plans(session, plan.region_code)
    taken = await open_plan_inspections(session, [e.enterprise_id for e in entries])
    if taken:
        raise PlanUnitsAlreadyPlanned(
            f"{len(taken)} 家单位在本草稿抽取后已列入其他检查计划且尚未检查完毕：请重新制定计划（重新抽取）",
            enterprise_ids=sorted(taken),
        )
    plan.status, plan.published_at = "published", now
    units = {
        unit.id: unit
        for unit in (
            await session.execute(
                select(KnownEnterprise).where(KnownEnterprise.id.in_([e.enterprise_id for e in entries]))  # type: ignore[attr-defined]
            )
        ).scalars()
    }
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
    entries = {e.enterprise_id: json.loads(e.inspectors) for e in await _entries(session, plan.id)}
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
    condition = (
        repository.enterprises_visible(caller)
        & KnownEnterprise.locked.is_(True)  # type: ignore[attr-defined]
        & KnownEnterprise.operating_status.not_in(CLOSED_STATUSES)  # type: ignore[attr-defined]
    )
    for extra in _region_filter(caller, region):
        condition = condition & extra
    units = (await session.execute(select(KnownEnterprise).where(condition))).scalars().all()
    visits = await last_visits(session, condition)
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


# ------------------------------------------------------------------------------------------------ routes

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
RegionQuery = Annotated[
    str | None,
    Query(pattern=r"^\d{6}(\d{3})?$", description="行政区划代码或市场监管所代码（须在管辖范围内）"),
]


@router.put(
    "/inspectors/{username}",
    response_model=InspectorPublic,
    tags=["inspectors 执法检查人员名录"],
    summary="登记或更新执法检查人员（新登记返回 201）",
)
async def put_inspector_route(
    username: Username, body: InspectorIn, db: DbDep, caller: CallerDep, response: Response
) -> InspectorPublic:
    async with db.transaction() as session:
        row, created = await put_inspector(session=session, caller=caller, username=username, data=body)
        response.status_code = 201 if created else 200
        return _inspector_public(row)


@router.get(
    "/inspectors",
    response_model=Page[InspectorPublic],
    tags=["inspectors 执法检查人员名录"],
    summary="辖区内的执法检查人员名录",
)
async def list_inspectors(
    db: DbDep,
    caller: CallerDep,
    region: RegionQuery = None,
    active: bool | None = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> Page[InspectorPublic]:
    _regulator(caller)
    stmt = select(Inspector).where(_in_scope(caller, Inspector.region_code))
    if region is not None:
        if not (region.startswith(prefix_of(caller.region_code)) or caller.region_code.startswith(region)):
            raise OutOfJurisdiction(f"{region} 不在您的管辖范围内")
        stmt = stmt.where(Inspector.region_code.startswith(prefix_of(region)))  # type: ignore[attr-defined]
    if active is not None:
        stmt = stmt.where(Inspector.active.is_(active))  # type: ignore[attr-defined]
    async with db.session() as session:
        rows, next_cursor = await keyset(session, stmt, Inspector.username, cursor=cursor, limit=limit)  # type: ignore[arg-type]
    return Page[InspectorPublic](items=[_inspector_public(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/inspectors/{username}",
    response_model=InspectorPublic,
    tags=["inspectors 执法检查人员名录"],
    summary="执法检查人员详情（含利害关系回避）",
)
async def get_inspector(username: str, db: DbDep, caller: CallerDep) -> InspectorPublic:
    async with db.session() as session:
        return _inspector_public(await _readable_inspector(session, caller, username))


@router.post(
    "/inspectors/{username}/conflicts",
    status_code=201,
    response_model=InspectorPublic,
    tags=["inspectors 执法检查人员名录"],
    summary="登记利害关系回避（不抽取该人员检查该单位）",
)
async def post_conflict(
    username: str, body: ConflictIn, db: DbDep, arrivals: ArrivalsDep, caller: CallerDep
) -> InspectorPublic:
    await known_unit(
        db,
        arrivals,
        body.enterprise_id,
        lambda s: repository.get_readable_enterprise(s, caller, body.enterprise_id),
    )
    async with db.transaction() as session:
        row = await declare_conflict(session=session, caller=caller, username=username, data=body)
        return _inspector_public(row)


@router.delete(
    "/inspectors/{username}/conflicts/{enterprise_id}",
    response_model=InspectorPublic,
    tags=["inspectors 执法检查人员名录"],
    summary="撤销利害关系回避",
)
async def delete_conflict(username: str, enterprise_id: str, db: DbDep, caller: CallerDep) -> InspectorPublic:
    async with db.transaction() as session:
        row = await withdraw_conflict(
            session=session, caller=caller, username=username, enterprise_id=enterprise_id
        )
        return _inspector_public(row)


@router.post("/plans", status_code=201, response_model=PlanPublic, summary="制定检查计划（双随机抽取，草稿）")
async def post_plan(body: PlanCreate, db: DbDep, caller: CallerDep) -> PlanPublic:
    async with db.transaction() as session:
        plan = await create_plan(session=session, caller=caller, data=body)
        await session.flush()
        return await plan_public(session, plan)


@router.get("/plans", response_model=Page[PlanSummaryPublic], summary="辖区内的检查计划")
async def list_plans(
    db: DbDep,
    caller: CallerDep,
    region: RegionQuery = None,
    status: Literal["draft", "published"] | None = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> Page[PlanSummaryPublic]:
    _regulator(caller)
    stmt = select(InspectionPlan).where(_in_scope(caller, InspectionPlan.region_code))
    if region is not None:
        if not (region.startswith(prefix_of(caller.region_code)) or caller.region_code.startswith(region)):
            raise OutOfJurisdiction(f"{region} 不在您的管辖范围内")
        stmt = stmt.where(InspectionPlan.region_code.startswith(prefix_of(region)))  # type: ignore[attr-defined]
    if status is not None:
        stmt = stmt.where(InspectionPlan.status == status)
    async with db.session() as session:
        rows, next_cursor = await keyset(session, stmt, InspectionPlan.id, cursor=cursor, limit=limit)  # type: ignore[arg-type]
    return Page[PlanSummaryPublic](items=[_summary_public(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/plans/{plan_id}", response_model=PlanPublic, summary="检查计划详情（含种子、算法和全部抽取输入）"
)
async def get_plan(plan_id: str, db: DbDep, caller: CallerDep) -> PlanPublic:
    async with db.session() as session:
        return await plan_public(session, await readable_plan(session, caller, plan_id))


@router.post(
    "/plans/{plan_id}/publish",
    response_model=PlanPublic,
    summary="公布检查计划：为每家单位生成待检查任务（公布后不可更改）",
)
async def post_publish(plan_id: str, db: DbDep, caller: CallerDep) -> PlanPublic:
    async with db.transaction() as session:
        plan = await publish_plan(session=session, caller=caller, plan_id=plan_id)
        await session.flush()
        return await plan_public(session, plan)


@router.get(
    "/plans/{plan_id}/verify",
    response_model=PlanVerification,
    summary="验证抽取结果：按记录的种子和输入重新抽取并比对",
)
async def get_verification(plan_id: str, db: DbDep, caller: CallerDep) -> PlanVerification:
    async with db.session() as session:
        return await verify_plan(session, await readable_plan(session, caller, plan_id))


@router.get(
    "/visit-duty",
    response_model=Page[VisitDutyPublic],
    tags=["visit duty 半年现场检查"],
    summary="锁定单位的半年现场检查责任：最近检查、下次应检日期、逾期名单",
)
async def get_visit_duty(
    db: DbDep,
    caller: CallerDep,
    region: RegionQuery = None,
    overdue: Annotated[bool, Query(description="仅列出已逾期的单位")] = False,
    as_of: Annotated[date | None, Query(description="按此日期判断是否逾期（默认今天）")] = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> Page[VisitDutyPublic]:
    async with db.session() as session:
        return await visit_duty(
            session=session,
            caller=caller,
            region=region,
            overdue_only=overdue,
            as_of=as_of or today_cn(),
            cursor=cursor,
            limit=limit,
        )
