"""Routes of the self-checks (日管控、周排查、月调度): the list of units behind, a unit's compliance, its records."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.exc import IntegrityError

from services.common.app import DbDep
from services.common.auth import CallerDep
from services.common.db import today_cn
from services.common.pagination import MAX_LIMIT, Page
from services.registry.selfchecks import service
from services.registry.selfchecks.errors import DateRangeInvalid
from services.registry.selfchecks.schemas import (
    CompliancePublic,
    OverdueUnitPublic,
    SelfCheckIn,
    SelfCheckKind,
    SelfCheckPublic,
)
from services.registry.workdays import KINDS

router = APIRouter(tags=["self-checks 日管控、周排查、月调度"])

_SELF_CHECKS = "/enterprises/{enterprise_id}/self-checks"


@router.get(
    "/self-checks/compliance",
    response_model=Page[OverdueUnitPublic],
    summary="辖区内缺报日管控/周排查/月调度记录的单位（按最近一次自查核查）",
)
async def overdue_units(
    db: DbDep,
    caller: CallerDep,
    region: Annotated[
        str | None, Query(pattern=r"^\d{6}$", description="行政区划代码（须在管辖范围内）")
    ] = None,
    kind: Annotated[SelfCheckKind | None, Query(description="只看某一类缺报")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Page[OverdueUnitPublic]:
    conditions = service.overdue_scope(caller, region)
    async with db.session() as session:
        return await service.overdue_units(session, conditions, kind=kind, cursor=cursor, limit=limit)


@router.get(
    _SELF_CHECKS + "/compliance",
    response_model=CompliancePublic,
    response_model_by_alias=True,
    summary="单位自查情况：应填报、已填报、缺报期间（停产停业期间不计）",
)
async def unit_compliance(
    enterprise_id: str,
    db: DbDep,
    caller: CallerDep,
    as_of: Annotated[
        date | None, Query(description="统计截止日期（默认今天）：此日之前已结束的期间计为应填报")
    ] = None,
    from_: Annotated[date | None, Query(alias="from", description="起算日期（默认录入台账之日）")] = None,
    kind: SelfCheckKind | None = None,
) -> CompliancePublic:
    today = today_cn()
    as_of = as_of or today
    if as_of > today:
        raise DateRangeInvalid("统计截止日期不能晚于今天", field="as_of")
    async with db.session() as session:
        enterprise = await service.require_reader(session, caller, enterprise_id)
        return await service.compliance(
            session, enterprise, as_of=as_of, from_day=from_, kinds=[kind.value] if kind else KINDS
        )


@router.get(_SELF_CHECKS, response_model=Page[SelfCheckPublic], summary="自查记录（日管控、周排查、月调度）")
async def list_self_checks(
    enterprise_id: str,
    db: DbDep,
    caller: CallerDep,
    kind: SelfCheckKind | None = None,
    from_: Annotated[date | None, Query(alias="from", description="期间起始日不早于")] = None,
    to: Annotated[date | None, Query(description="期间起始日不晚于")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Page[SelfCheckPublic]:
    async with db.session() as session:
        enterprise = await service.require_reader(session, caller, enterprise_id)
        return await service.list_self_checks(
            session, enterprise, kind=kind, from_day=from_, to=to, cursor=cursor, limit=limit
        )


@router.get(_SELF_CHECKS + "/{kind}/{period}", response_model=SelfCheckPublic, summary="某一期间的自查记录")
async def get_self_check(
    enterprise_id: str, kind: SelfCheckKind, period: str, db: DbDep, caller: CallerDep
) -> SelfCheckPublic:
    start = service.period_start(kind.value, period)
    async with db.session() as session:
        enterprise = await service.require_reader(session, caller, enterprise_id)
        return await service.get_self_check(session, enterprise, kind, start)


@router.put(
    _SELF_CHECKS + "/{kind}/{period}",
    response_model=SelfCheckPublic,
    responses={201: {"description": "新建", "model": SelfCheckPublic}},
    summary="填报某一期间的日管控/周排查/月调度记录（重复提交即更新，不会重复）",
)
async def put_self_check(
    enterprise_id: str,
    kind: SelfCheckKind,
    period: str,
    body: SelfCheckIn,
    db: DbDep,
    caller: CallerDep,
    response: Response,
) -> SelfCheckPublic:
    for attempt in (1, 2):
        try:
            async with db.transaction() as session:
                result = await service.record_self_check(
                    session=session,
                    caller=caller,
                    enterprise_id=enterprise_id,
                    kind=kind.value,
                    period=period,
                    data=body,
                    today=today_cn(),
                )
                shown = service.present(result.record, result.owed)
        except IntegrityError:
            if attempt == 2:
                raise
            continue  # a concurrent first write of the same period won: this one updates it
        response.status_code = 201 if result.created else 200
        return shown
    raise AssertionError("unreachable")
