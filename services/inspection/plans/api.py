"""Routes of the roster, the plans and the visit duty: parse, authorise, call ``plans.service``, answer."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from services.common.app import ArrivalsDep, DbDep
from services.common.arrivals import known_unit
from services.common.auth import CallerDep
from services.common.db import today_cn
from services.common.pagination import MAX_LIMIT, Page
from services.inspection import repository as inspection_repository
from services.inspection.plans import service
from services.inspection.plans.schemas import (
    ConflictIn,
    InspectorIn,
    InspectorPublic,
    PlanCreate,
    PlanPublic,
    PlanSummaryPublic,
    PlanVerification,
    Username,
    VisitDutyPublic,
)

router = APIRouter(tags=["plans 双随机检查计划"])

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
        row, created = await service.put_inspector(
            session=session, caller=caller, username=username, data=body
        )
        response.status_code = 201 if created else 200
        return service.inspector_public(row)


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
    async with db.session() as session:
        return await service.list_inspectors(
            session=session, caller=caller, region=region, active=active, cursor=cursor, limit=limit
        )


@router.get(
    "/inspectors/{username}",
    response_model=InspectorPublic,
    tags=["inspectors 执法检查人员名录"],
    summary="执法检查人员详情（含利害关系回避）",
)
async def get_inspector(username: str, db: DbDep, caller: CallerDep) -> InspectorPublic:
    async with db.session() as session:
        return service.inspector_public(await service.readable_inspector(session, caller, username))


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
        lambda s: inspection_repository.get_readable_enterprise(s, caller, body.enterprise_id),
    )
    async with db.transaction() as session:
        row = await service.declare_conflict(session=session, caller=caller, username=username, data=body)
        return service.inspector_public(row)


@router.delete(
    "/inspectors/{username}/conflicts/{enterprise_id}",
    response_model=InspectorPublic,
    tags=["inspectors 执法检查人员名录"],
    summary="撤销利害关系回避",
)
async def delete_conflict(username: str, enterprise_id: str, db: DbDep, caller: CallerDep) -> InspectorPublic:
    async with db.transaction() as session:
        row = await service.withdraw_conflict(
            session=session, caller=caller, username=username, enterprise_id=enterprise_id
        )
        return service.inspector_public(row)


@router.post("/plans", status_code=201, response_model=PlanPublic, summary="制定检查计划（双随机抽取，草稿）")
async def post_plan(body: PlanCreate, db: DbDep, caller: CallerDep) -> PlanPublic:
    async with db.transaction() as session:
        plan = await service.create_plan(session=session, caller=caller, data=body)
        await session.flush()
        return await service.plan_public(session, plan)


@router.get("/plans", response_model=Page[PlanSummaryPublic], summary="辖区内的检查计划")
async def list_plans(
    db: DbDep,
    caller: CallerDep,
    region: RegionQuery = None,
    status: Literal["draft", "published"] | None = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> Page[PlanSummaryPublic]:
    async with db.session() as session:
        return await service.list_plans(
            session=session, caller=caller, region=region, status=status, cursor=cursor, limit=limit
        )


@router.get(
    "/plans/{plan_id}", response_model=PlanPublic, summary="检查计划详情（含种子、算法和全部抽取输入）"
)
async def get_plan(plan_id: str, db: DbDep, caller: CallerDep) -> PlanPublic:
    async with db.session() as session:
        return await service.plan_public(session, await service.readable_plan(session, caller, plan_id))


@router.post(
    "/plans/{plan_id}/publish",
    response_model=PlanPublic,
    summary="公布检查计划：为每家单位生成待检查任务（公布后不可更改）",
)
async def post_publish(plan_id: str, db: DbDep, caller: CallerDep) -> PlanPublic:
    async with db.transaction() as session:
        plan = await service.publish_plan(session=session, caller=caller, plan_id=plan_id)
        await session.flush()
        return await service.plan_public(session, plan)


@router.get(
    "/plans/{plan_id}/verify",
    response_model=PlanVerification,
    summary="验证抽取结果：按记录的种子和输入重新抽取并比对",
)
async def get_verification(plan_id: str, db: DbDep, caller: CallerDep) -> PlanVerification:
    async with db.session() as session:
        return await service.verify_plan(session, await service.readable_plan(session, caller, plan_id))


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
        return await service.visit_duty(
            session=session,
            caller=caller,
            region=region,
            overdue_only=overdue,
            as_of=as_of or today_cn(),
            cursor=cursor,
            limit=limit,
        )
