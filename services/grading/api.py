"""Grading routes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from services.common.app import ArrivalsDep, DbDep
from services.common.arrivals import Arrivals, known_unit
from services.common.auth import Caller, CallerDep, require_regulator
from services.common.db import Database, today_cn, utcnow
from services.common.errors import Conflict, Forbidden, Invalid, NotFound
from services.common.ids import new_id
from services.common.pagination import MAX_LIMIT, keyset
from services.common.policy import CLASS_NAMES, LEVELS, Pack, PackSet
from services.common.regions import is_valid_region
from services.grading import repository, service
from services.grading.decide import Signal
from services.grading.exports import annual_list_workbook
from services.grading.jobs import RecomputeJobs
from services.grading.models import AnnualListEntry, GradedEnterprise, ManualDecision, RiskSignal
from services.grading.schemas import (
    AnnualListItem,
    AnnualListPage,
    DecisionPublic,
    GradingPage,
    GradingPublic,
    GradingSummaryPublic,
    HistoryPage,
    HistoryPublic,
    Level,
    ManualDecisionCreate,
    ManualDecisionPublic,
    PackSummary,
    RecomputeJobOut,
    RecomputeRequest,
    SignalCreate,
    SignalPublic,
    SupervisionClass,
    Tier,
    WhatIfRequest,
)

router = APIRouter(tags=["grading 分层分级与分类监管"])


class GradingNotFound(NotFound):
    code, title = "GRADING_NOT_FOUND", "该单位暂无分级结果或不在您的管辖范围内"


class PackNotFound(NotFound):
    code, title = "PACK_NOT_FOUND", "没有该名称的规则包"


class ManualDecisionNotFound(NotFound):
    code, title = "MANUAL_DECISION_NOT_FOUND", "没有该人工认定记录"


class NotResponsibleLevel(Forbidden):
    code, title = "GRADING_NOT_RESPONSIBLE_LEVEL", "只有负责监管该单位的层级或其上级可以人工认定监管类别"


class ExpiryInvalid(Invalid):
    code, title = "MANUAL_DECISION_EXPIRY_INVALID", "人工认定的有效期不符合规则包的规定"


class ManualDecisionRevoked(Conflict):
    code, title = "MANUAL_DECISION_ALREADY_REVOKED", "该人工认定已撤销"


class RegionInvalid(Invalid):
    code, title = "REGION_CODE_INVALID", "行政区划代码无效"


def _packs(request: Request) -> PackSet:
    return request.app.state.packs


def _manual_public(fields: Mapping[str, Any], today: date) -> ManualDecisionPublic:
    return ManualDecisionPublic.model_validate(
        {**fields, "in_force": fields["revoked_at"] is None and fields["expires_on"] > today}
    )


def _decision(row: GradedEnterprise) -> DecisionPublic | None:
    return DecisionPublic.model_validate_json(row.decision) if row.pack else None


async def _grading(session: Any, row: GradedEnterprise) -> GradingPublic:
    """The unit's grading after a change, from the ORM objects of the transaction."""
    signals = await repository.signals_of(session, row.enterprise_id)
    manual = await repository.manual_decisions_of(session, row.enterprise_id)
    return _grading_public(
        row, row.model_dump(), [s.model_dump() for s in signals], [m.model_dump() for m in manual]
    )


def _grading_public(
    row: Any, fields: Mapping[str, Any], signals: list[dict[str, Any]], manual: list[dict[str, Any]]
) -> GradingPublic:
    today = today_cn()
    return GradingPublic.model_validate(
        {
            **{name: fields[name] for name in _UNIT_FIELDS},
            "decision": _decision(row),
            "signals": [
                SignalPublic.model_validate({**s, "detail": json.loads(s["detail"])}) for s in signals
            ],
            "manual_decisions": [_manual_public(m, today) for m in manual],
        }
    )


_UNIT_FIELDS = (
    "enterprise_id",
    "region_code",
    "uscc",
    "name",
    "kind",
    "sales_channel",
    "employees",
    "revenue_wan_yuan",
    "updated_at",
)


async def _arrived(db: Database, arrivals: Arrivals, caller: Caller, enterprise_id: str) -> None:
    """Wait (bounded) for a unit registered a moment ago whose event has not been applied here yet."""
    await known_unit(db, arrivals, enterprise_id, lambda s: repository.get_readable(s, caller, enterprise_id))


async def _readable(session: Any, caller: Caller, enterprise_id: str) -> GradedEnterprise:
    row = await repository.get_readable(session, caller, enterprise_id)
    if row is None:
        raise GradingNotFound()
    return row


@router.get(
    "/enterprises/{enterprise_id}",
    response_model=GradingPublic,
    summary="单位的分级、监管层级、监管类别、上一级监管与锁定，及其依据和风险信号",
)
async def get_grading(
    enterprise_id: str, db: DbDep, arrivals: ArrivalsDep, caller: CallerDep
) -> GradingPublic:
    # The wait's first read is the whole record: a unit already known costs one statement.
    found = await known_unit(
        db, arrivals, enterprise_id, lambda s: repository.get_readable_grading(s, caller, enterprise_id)
    )
    if found is None:
        raise GradingNotFound()
    return _grading_public(found.unit, found.unit._mapping, found.signals, found.manual_decisions)


@router.get(
    "/enterprises", response_model=GradingPage, summary="按层级、监管类别、监管层级等列出单位（按管辖范围）"
)
async def list_gradings(
    db: DbDep,
    caller: CallerDep,
    tier: Tier | None = None,
    supervision_class: SupervisionClass | None = None,
    responsible_level: Level | None = None,
    escalated: bool | None = None,
    locked: bool | None = None,
    kind: Annotated[str | None, Query(pattern="^(production|sales)$")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> GradingPage:
    filters = {
        "tier": tier,
        "supervision_class": supervision_class,
        "responsible_level": responsible_level,
        "escalated": escalated,
        "locked": locked,
        "kind": kind,
    }
    async with db.session() as session:
        rows, next_cursor = await repository.list_readable(
            session, caller, filters=filters, cursor=cursor, limit=limit
        )
    return GradingPage(
        items=[GradingSummaryPublic.model_validate(row, from_attributes=True) for row in rows],
        next_cursor=next_cursor,
    )


@router.get(
    "/enterprises/{enterprise_id}/history", response_model=HistoryPage, summary="单位分级决定的历次变化"
)
async def decision_history(
    enterprise_id: str,
    db: DbDep,
    arrivals: ArrivalsDep,
    caller: CallerDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> HistoryPage:
    await _arrived(db, arrivals, caller, enterprise_id)
    async with db.session() as session:
        await _readable(session, caller, enterprise_id)
        rows, next_cursor = await repository.history_of(session, enterprise_id, cursor=cursor, limit=limit)
    return HistoryPage(
        items=[
            HistoryPublic(
                **row.model_dump(exclude={"decision", "enterprise_id"}),
                decision=DecisionPublic.model_validate_json(row.decision),
            )
            for row in rows
        ],
        next_cursor=next_cursor,
    )


@router.post(
    "/enterprises/{enterprise_id}/signals",
    response_model=GradingPublic,
    status_code=201,
    summary="录入风险信号（行政处罚、较大质量安全事故、投诉举报核实、信用风险分类、约谈、召回），立即重新判定",
)
async def report_signal(
    enterprise_id: str,
    body: SignalCreate,
    request: Request,
    db: DbDep,
    arrivals: ArrivalsDep,
    caller: CallerDep,
) -> GradingPublic:
    today = today_cn()
    if body.occurred_on > today:
        raise Invalid("风险信号的发生日期不能晚于今天", field="occurred_on")
    await _arrived(db, arrivals, caller, enterprise_id)
    async with db.transaction() as session:
        row = await _readable(session, caller, enterprise_id)  # another's unit: 404, as for none at all
        require_regulator(caller, "风险信号由监管部门录入，企业账号不能录入")
        session.add(
            RiskSignal(
                id=new_id(),
                enterprise_id=row.enterprise_id,
                uscc=row.uscc,
                kind=body.kind,
                occurred_on=body.occurred_on,
                heavier=body.heavier,
                credit_class=body.credit_class,
                ref=body.ref,
                recorded_by=caller.username,
                source_type="api",
                detail=json.dumps({"note": body.note}, ensure_ascii=False),
                received_at=utcnow(),
            )
        )
        await session.flush()
        await service.refresh(session, _packs(request), row, today=today, cause="api.signal")
        return await _grading(session, row)


def _authorise_manual(caller: Caller, row: GradedEnterprise) -> None:
    require_regulator(caller, "只有监管部门用户可以人工认定监管类别")
    if row.responsible_level is None or row.responsible_region is None:
        return  # not tiered yet: any regulator whose jurisdiction holds the unit
    if LEVELS.index(caller.level) > LEVELS.index(row.responsible_level) or not caller.can_see(
        row.responsible_region
    ):
        raise NotResponsibleLevel(
            f"该单位由{json.loads(row.decision).get('responsible_level_title', row.responsible_level)}负责监管，"
            "您所在层级不能人工认定其监管类别"
        )


@router.post(
    "/enterprises/{enterprise_id}/manual-decisions",
    response_model=GradingPublic,
    status_code=201,
    summary="人工认定监管类别（须填理由与有效期；与自动判定冲突时以较严者为准，并在决定中说明）",
)
async def create_manual_decision(
    enterprise_id: str,
    body: ManualDecisionCreate,
    request: Request,
    db: DbDep,
    arrivals: ArrivalsDep,
    caller: CallerDep,
) -> GradingPublic:
    packs = _packs(request)
    today = today_cn()
    await _arrived(db, arrivals, caller, enterprise_id)
    async with db.transaction() as session:
        row = await _readable(session, caller, enterprise_id)
        _authorise_manual(caller, row)
        pack = packs.for_region(row.region_code)
        if not service.expires_ok(pack, today=today, expires_on=body.expires_on):
            raise ExpiryInvalid(
                f"有效期须晚于今天且不超过 {pack.manual.max_days} 天（{pack.title}）", field="expires_on"
            )
        session.add(
            ManualDecision(
                id=new_id(),
                enterprise_id=row.enterprise_id,
                supervision_class=body.supervision_class,
                reason=body.reason,
                decided_on=today,
                expires_on=body.expires_on,
                decided_by=caller.username,
                decided_by_region=caller.region_code,
                created_at=utcnow(),
            )
        )
        await session.flush()
        await service.refresh(session, packs, row, today=today, cause="manual")
        return await _grading(session, row)


@router.post(
    "/enterprises/{enterprise_id}/manual-decisions/{decision_id}/revoke",
    response_model=GradingPublic,
    summary="撤销人工认定（记录撤销人和时间，不删除）",
)
async def revoke_manual_decision(
    enterprise_id: str, decision_id: str, request: Request, db: DbDep, caller: CallerDep
) -> GradingPublic:
    async with db.transaction() as session:
        row = await _readable(session, caller, enterprise_id)
        _authorise_manual(caller, row)
        manual = await session.get(ManualDecision, decision_id)
        if manual is None or manual.enterprise_id != enterprise_id:
            raise ManualDecisionNotFound()
        if manual.revoked_at is not None:
            raise ManualDecisionRevoked()
        manual.revoked_at, manual.revoked_by = utcnow(), caller.username
        await session.flush()
        await service.refresh(session, _packs(request), row, today=today_cn(), cause="manual.revoked")
        return await _grading(session, row)


# ------------------------------------------------------------------------------------------------ what-if


def _pack(packs: PackSet, name: str) -> Pack:
    pack = packs.get(name)
    if pack is None:
        raise PackNotFound(f"没有名为 {name!r} 的规则包；可用：{', '.join(sorted(packs.packs))}")
    return pack


@router.post(
    "/what-if",
    response_model=DecisionPublic,
    summary="假设评估：按任一规则包评估已入库或假设的单位，不保存任何结果（供政策比较）",
)
async def what_if(body: WhatIfRequest, request: Request, db: DbDep, caller: CallerDep) -> DecisionPublic:
    packs = _packs(request)
    today = body.today or today_cn()
    if body.enterprise_id is not None:
        async with db.session() as session:
            row = await _readable(session, caller, body.enterprise_id)
            signals = list(await repository.signals_of(session, row.enterprise_id))
            manual = await repository.active_manual(session, row.enterprise_id, today)
    else:
        assert body.region_code is not None
        if not is_valid_region(body.region_code):
            raise RegionInvalid(field="region_code")
        size = body.size
        row = GradedEnterprise(
            enterprise_id="what-if",
            region_code=body.region_code,
            kind=size.kind if size else None,
            sales_channel=size.sales_channel if size else None,
            employees=size.employees if size else None,
            revenue_wan_yuan=size.revenue_wan_yuan if size else None,
        )
        signals, manual = [], None
    pack = _pack(packs, body.pack) if body.pack else packs.for_region(row.region_code)
    extra = [
        Signal(s.id or f"what-if-{n}", s.kind, s.occurred_on, s.heavier, s.credit_class, s.ref)
        for n, s in enumerate(body.signals, 1)
    ]
    decision = service.evaluate(packs, row, signals, manual, today=today, pack=pack, extra=extra)
    return DecisionPublic.model_validate(service.decision_document(decision, pack))


# -------------------------------------------------------------------------------------------------- packs


def _summary(pack: Pack) -> PackSummary:
    return PackSummary(
        pack=pack.pack,
        version=pack.version,
        title=pack.title,
        effective_from=pack.effective_from,
        provinces=list(pack.provinces),
        default=pack.default,
    )


@router.get("/packs", response_model=list[PackSummary], summary="在用的规则包及其版本")
async def list_packs(request: Request, caller: CallerDep) -> list[PackSummary]:
    return [_summary(pack) for pack in sorted(_packs(request).packs.values(), key=lambda p: p.pack)]


@router.get("/packs/for-region/{region_code}", summary="某行政区划适用的规则包（全文）")
async def pack_for_region(region_code: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    if not is_valid_region(region_code):
        raise RegionInvalid(field="region_code")
    return _packs(request).for_region(region_code).model_dump(mode="json")


@router.get("/packs/{name}", summary="规则包全文（分级标准、层级、类别规则、上一级监管、锁定、时限）")
async def get_pack(name: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    return _pack(_packs(request), name).model_dump(mode="json")


# ------------------------------------------------------------------------------------------- annual lists


def _annual_list_reader(caller: Caller, supervision_class: str) -> None:
    """The annual lists are the regulators' (an enterprise account sees its own unit's class, not the lists)."""
    require_regulator(caller, "年度重点监管、特别监管名单仅供监管部门查阅和导出")
    if supervision_class == "routine":
        raise Invalid("年度名单只有重点监管（key）和特别监管（special）两类", field="supervision_class")


@router.get(
    "/annual-lists/{year}",
    response_model=AnnualListPage,
    summary="年度重点监管、特别监管名单（生产、销售分列，按管辖范围；年度结束后冻结）",
)
async def annual_list(
    year: Annotated[int, Path(ge=2000, le=2100)],
    db: DbDep,
    caller: CallerDep,
    supervision_class: Annotated[SupervisionClass, Query()] = "key",
    kind: Annotated[str | None, Query(pattern="^(production|sales)$")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> AnnualListPage:
    _annual_list_reader(caller, supervision_class)
    async with db.session() as session:
        stmt = repository.annual_list(caller, year=year, supervision_class=supervision_class, kind=kind)
        rows, next_cursor = await keyset(
            session,
            stmt,
            AnnualListEntry.enterprise_id,
            cursor=cursor,
            limit=limit,  # type: ignore[arg-type]
        )
        freeze = await repository.freeze_of(session, year)
    return AnnualListPage(
        year=year,
        supervision_class=supervision_class,
        frozen=freeze is not None,
        frozen_at=freeze.frozen_at if freeze else None,
        items=[AnnualListItem.model_validate(row, from_attributes=True) for row in rows],
        next_cursor=next_cursor,
    )


@router.get(
    "/annual-lists/{year}/export.xlsx",
    summary="导出年度名单（.xlsx，生产单位、销售单位各一张工作表）",
    response_class=StreamingResponse,
)
async def export_annual_list(
    year: Annotated[int, Path(ge=2000, le=2100)],
    db: DbDep,
    caller: CallerDep,
    supervision_class: Annotated[SupervisionClass, Query()] = "key",
) -> StreamingResponse:
    _annual_list_reader(caller, supervision_class)

    async def rows(kind: str) -> AsyncIterator[AnnualListEntry]:
        async with db.session() as session:
            async for entry in repository.stream_annual_list(
                session, caller, year=year, supervision_class=supervision_class, kind=kind
            ):
                yield entry

    title = f"{year}年度{CLASS_NAMES[supervision_class]}名单"
    body = await annual_list_workbook(title, rows)
    filename = f"annual-list-{year}-{supervision_class}.xlsx"
    return StreamingResponse(
        body,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )


def _jobs(request: Request) -> RecomputeJobs:
    return request.app.state.recompute_jobs


def _province_only(caller: Caller) -> None:
    require_regulator(caller, "企业账号不能发起或查看重新计算")
    if caller.level != "province":
        raise Forbidden("只有省级监管部门可以发起全量重新计算")


@router.post(
    "/recompute-jobs",
    status_code=202,
    response_model=RecomputeJobOut,
    summary="发起重新计算（规则包变更后重算全部单位），返回任务及进度",
)
async def start_recompute(request: Request, caller: CallerDep, body: RecomputeRequest) -> RecomputeJobOut:
    _province_only(caller)
    job = await _jobs(request).start(request.app.state.db, full=body.full, requested_by=caller.username)
    return RecomputeJobOut.model_validate(job, from_attributes=True)


@router.get(
    "/recompute-jobs/{job_id}", response_model=RecomputeJobOut, summary="重新计算任务的进度（已完成/总数）"
)
async def recompute_job(request: Request, caller: CallerDep, job_id: str) -> RecomputeJobOut:
    _province_only(caller)
    return RecomputeJobOut.model_validate(_jobs(request).get(job_id), from_attributes=True)
