"""Exam plan routes: plans, their draws and verification, the sampled persons, and the units' notices."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from services.common.app import DbDep
from services.common.auth import CallerDep
from services.common.pagination import MAX_LIMIT, Page
from services.exam.models import ExamCandidate, ExamPlan
from services.exam.plans import repository, service
from services.exam.plans.schemas import (
    DrawPublic,
    DrawRequest,
    DrawVerification,
    Mode,
    NoticePublic,
    PlanCandidatePublic,
    PlanCreate,
    PlanPublic,
    PlanStatus,
)
from services.exam.service import mask_name

router = APIRouter(tags=["exam plans 考核计划与抽取"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Round = Annotated[int, Path(ge=1, le=10_000, description="抽取轮次")]


@router.post(
    "/plans",
    status_code=201,
    response_model=PlanPublic,
    summary="制定考核计划（草稿；组卷、时长、及格线取自本省规则包）",
)
async def create_plan(body: PlanCreate, db: DbDep, caller: CallerDep, request: Request) -> PlanPublic:
    async with db.transaction() as session:
        plan = await service.create(
            session=session, caller=caller, body=body, settings=request.app.state.settings
        )
    return service.plan_public(plan)


@router.get(
    "/plans",
    response_model=Page[PlanPublic],
    summary="考核计划列表（管辖范围内；企业账号：本单位人员被抽中的计划）",
)
async def list_plans(
    db: DbDep,
    caller: CallerDep,
    status: PlanStatus | None = None,
    mode: Mode | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[PlanPublic]:
    async with db.session() as session:
        rows, next_cursor = await repository.page(
            session, caller, status=status, mode=mode, cursor=cursor, limit=limit
        )
    return Page(items=[service.plan_public(row) for row in rows], next_cursor=next_cursor)


@router.get("/plans/{plan_id}", response_model=PlanPublic, summary="考核计划详情")
async def get_plan(plan_id: str, db: DbDep, caller: CallerDep) -> PlanPublic:
    async with db.session() as session:
        return service.plan_public(await service.readable(session, caller, plan_id))


@router.post(
    "/plans/{plan_id}/draw",
    response_model=DrawPublic,
    summary="随机抽取考核对象（公布种子、算法与输入摘要；重新抽取须说明原因）",
)
async def draw_plan(plan_id: str, body: DrawRequest, db: DbDep, caller: CallerDep) -> DrawPublic:
    # The plan is read FOR UPDATE (PostgreSQL); on SQLite the transaction takes the write lock at once, so two
    # draws of one plan queue and the second is the next round, never a duplicate one.
    async with db.transaction(immediate=True) as session:
        record = await service.draw_plan(session=session, caller=caller, plan_id=plan_id, body=body)
    return service.draw_public(record)


@router.get(
    "/plans/{plan_id}/draws", response_model=list[DrawPublic], summary="历次抽取记录（含重新抽取的原因）"
)
async def list_draws(plan_id: str, db: DbDep, caller: CallerDep) -> list[DrawPublic]:
    async with db.session() as session:
        plan = await service.readable(session, caller, plan_id)
        return [service.draw_public(row) for row in await repository.draws(session, plan.id)]


@router.get(
    "/plans/{plan_id}/draws/{round}/verify",
    response_model=DrawVerification,
    summary="验证抽取：按记录的种子和输入重新抽取并比对结果与摘要",
)
async def verify_draw(plan_id: str, round: Round, db: DbDep, caller: CallerDep) -> DrawVerification:
    async with db.session() as session:
        return await service.verify(session, await service.readable(session, caller, plan_id), round)


def candidate_public(row: ExamCandidate) -> PlanCandidatePublic:
    return PlanCandidatePublic(
        id=row.id,
        plan_id=row.plan_id,
        manager_id=row.manager_id,
        name_masked=mask_name(row.name),
        role=row.role,  # type: ignore[arg-type]
        kind=row.kind,  # type: ignore[arg-type]
        enterprise_id=row.enterprise_id,
        uscc=row.uscc,
        region_code=row.region_code,
        station_code=row.station_code,
        draw_round=row.draw_round,
        rank=row.rank,
        notified_at=row.notified_at,
        read_at=row.read_at,
    )


@router.get(
    "/plans/{plan_id}/candidates",
    response_model=Page[PlanCandidatePublic],
    summary="被抽中的考核对象（姓名脱敏；企业账号仅见本单位人员）",
)
async def list_plan_candidates(
    plan_id: str, db: DbDep, caller: CallerDep, cursor: str | None = None, limit: Limit = 100
) -> Page[PlanCandidatePublic]:
    async with db.session() as session:
        plan = await service.readable(session, caller, plan_id)
        rows, next_cursor = await repository.sampled(session, caller, plan.id, cursor=cursor, limit=limit)
    return Page(items=[candidate_public(row) for row in rows], next_cursor=next_cursor)


def notice_public(candidate: ExamCandidate, plan: ExamPlan) -> NoticePublic:
    return NoticePublic(
        candidate_id=candidate.id,
        plan_id=plan.id,
        plan_title=plan.title,
        mode=plan.mode,  # type: ignore[arg-type]
        period_start=plan.period_start,
        period_end=plan.period_end,
        organiser_region=plan.organiser_region,
        manager_id=candidate.manager_id,
        name_masked=mask_name(candidate.name),
        role=candidate.role,  # type: ignore[arg-type]
        notified_at=candidate.notified_at,
        read=candidate.read_at is not None,
        read_at=candidate.read_at,
    )


@router.get(
    "/notices",
    response_model=Page[NoticePublic],
    tags=["exam notices 考核通知"],
    summary="考核通知：本单位被抽中参加考核的人员（企业账号）",
)
async def list_notices(
    db: DbDep,
    caller: CallerDep,
    unread: Annotated[bool, Query(description="只看未读")] = False,
    cursor: str | None = None,
    limit: Limit = 50,
) -> Page[NoticePublic]:
    uscc = service.require_enterprise(caller)
    async with db.session() as session:
        rows, next_cursor = await repository.notices(session, uscc, unread=unread, cursor=cursor, limit=limit)
    return Page(items=[notice_public(candidate, plan) for candidate, plan in rows], next_cursor=next_cursor)


@router.post(
    "/notices/{candidate_id}/read",
    response_model=NoticePublic,
    tags=["exam notices 考核通知"],
    summary="标记考核通知为已读",
)
async def read_notice(candidate_id: str, db: DbDep, caller: CallerDep) -> NoticePublic:
    async with db.transaction() as session:
        candidate, plan = await service.mark_read(session=session, caller=caller, candidate_id=candidate_id)
        return notice_public(candidate, plan)
