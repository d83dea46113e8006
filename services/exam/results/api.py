"""Results routes: publication (公布) and the published list, results, summonses (约谈), rectifications
(督促整改), the key correction (阅卷更正) and the month's counts (附件5)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select, tuple_

from services.common.app import DbDep
from services.common.auth import CallerDep
from services.common.db import today_cn
from services.common.pagination import MAX_LIMIT, Page
from services.exam import access
from services.exam import service as exam_service
from services.exam.models import (
    ExamAnswer,
    ExamPaper,
    ExamRectification,
    ExamResult,
    ExamSitting,
    ExamSummons,
    QuestionVersion,
)
from services.exam.results import regrade, repository, rules, service
from services.exam.results.errors import MonthInvalid, ResultNotFound
from services.exam.results.schemas import (
    KeyCorrectionIn,
    KeyCorrectionPublic,
    MonthCounts,
    PublishedList,
    PublishedRow,
    PublishReport,
    RectificationClose,
    RectificationPublic,
    RegionCounts,
    ResultDetail,
    ResultPublic,
    SummonsHeld,
    SummonsPublic,
    WrongAnswer,
)

router = APIRouter(tags=["exam results 考核结果"])
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def result_public(result: ExamResult, title: str, name: str, unit_name: str | None) -> dict[str, Any]:
    return {
        "id": result.id,
        "plan_id": result.plan_id,
        "plan_title": title,
        "sitting_id": result.sitting_id,
        "manager_id": result.manager_id,
        "name_masked": exam_service.mask_name(name),
        "enterprise_id": result.enterprise_id,
        "enterprise_name": unit_name,
        "region_code": result.region_code,
        "role": result.role,
        "kind": result.kind,
        "score": result.score,
        "max_score": result.max_score,
        "result": result.result,
        "status": result.status,
        "published_on": result.published_on,
        "correction_of": result.correction_of,
        "reason": result.reason,
    }


def summons_public(summons: ExamSummons, name: str | None) -> SummonsPublic:
    return SummonsPublic(
        **{
            c: getattr(summons, c)
            for c in SummonsPublic.model_fields
            if hasattr(summons, c) and c != "result_ids"
        },
        enterprise_name=name,
        result_ids=json.loads(summons.result_ids),
    )


def rectification_public(row: ExamRectification, name: str | None) -> RectificationPublic:
    skip = {"manager_ids", "overdue", "enterprise_name"}
    return RectificationPublic(
        **{c: getattr(row, c) for c in RectificationPublic.model_fields if c not in skip},
        enterprise_name=name,
        manager_ids=json.loads(row.manager_ids),
        overdue=rules.is_overdue(row.status, row.due_on, today_cn()),
    )


@router.post(
    "/plans/{plan_id}/results/publish",
    response_model=PublishReport,
    summary="公布考核结果（不合格人员通报台账、督促整改、多次不合格约谈）",
)
async def publish_results(plan_id: str, db: DbDep, caller: CallerDep) -> PublishReport:
    async with db.transaction(immediate=True) as session:
        plan = await access.plan_for(session, caller, plan_id)
        access.require_organiser(caller, plan)
        report = await service.publish_plan(session=session, caller=caller, plan=plan)
    return PublishReport(**report)


@router.get(
    "/plans/{plan_id}/results/published",
    response_model=PublishedList,
    summary="考核结果公布名单（姓名脱敏，不含身份证号码）",
)
async def published_list(plan_id: str, db: DbDep, caller: CallerDep) -> PublishedList:
    async with db.session() as session:
        plan = await access.plan_for(session, caller, plan_id)
        rows = await repository.published_list(session, plan.id)
    items = [
        PublishedRow(
            **rules.published_row(
                rules.ListedResult(r.id, name, unit or "", r.role, r.result, r.score, r.max_score)
            )  # type: ignore[arg-type]
        )
        for r, name, unit in rows
    ]
    published_on = max((r.published_on for r, _, _ in rows if r.published_on), default=None)
    return PublishedList(plan_id=plan.id, title=plan.title, published_on=published_on, items=items)


@router.get(
    "/results",
    response_model=Page[ResultPublic],
    summary="考核结果（监管部门：管辖范围内；企业：本单位人员）",
)
async def list_results(
    db: DbDep,
    caller: CallerDep,
    plan_id: str | None = None,
    result: Literal["qualified", "failed"] | None = None,
    enterprise_id: str | None = None,
    include_superseded: Annotated[bool, Query(description="含已被阅卷更正取代的结果")] = False,
    cursor: str | None = None,
    limit: Limit = 100,
) -> Page[ResultPublic]:
    async with db.session() as session:
        rows, next_cursor = await repository.results(
            session,
            caller,
            plan_id=plan_id,
            result=result,
            enterprise_id=enterprise_id,
            include_superseded=include_superseded,
            cursor=cursor,
            limit=limit,
        )
    return Page(items=[ResultPublic(**result_public(*row)) for row in rows], next_cursor=next_cursor)


@router.get(
    "/results/{result_id}",
    response_model=ResultDetail,
    summary="考核结果详情：得分；公布后可查看答错的题目、标准答案与解析",
)
async def get_result(result_id: str, db: DbDep, caller: CallerDep) -> ResultDetail:
    async with db.session() as session:
        row = await repository.result(session, caller, result_id)
        if row is None:
            raise ResultNotFound(f"考核结果 {result_id} 不存在或不在您的管辖范围内")
        result = row[0]
        wrong = None
        if result.status in ("published", "superseded"):
            wrong = await _wrong_answers(session, result.sitting_id)
    return ResultDetail(**result_public(*row), wrong_answers=wrong)


async def _wrong_answers(session: Any, sitting_id: str) -> list[WrongAnswer]:
    """The paper's questions that did not earn their full points, with the answer given and the key."""
    paper = await session.scalar(
        select(ExamPaper)
        .join(ExamSitting, ExamSitting.paper_id == ExamPaper.id)
        .where(ExamSitting.id == sitting_id)
    )
    if paper is None:
        return []
    items = json.loads(paper.questions)
    answers = {
        a.question_id: a
        for a in (await session.scalars(select(ExamAnswer).where(ExamAnswer.sitting_id == sitting_id))).all()
    }
    keys = [(i["question_id"], int(i["version"])) for i in items]
    versions = {
        (v.question_id, v.version): v
        for v in (
            await session.scalars(
                select(QuestionVersion).where(
                    tuple_(QuestionVersion.question_id, QuestionVersion.version).in_(keys)
                )
            )
        ).all()
    }
    wrong = []
    for item in items:
        version = versions.get((item["question_id"], int(item["version"])))
        answer = answers.get(item["question_id"])
        awarded = (answer.points or 0.0) if answer else 0.0
        if version is None or awarded >= float(item["points"]):
            continue
        wrong.append(
            WrongAnswer(
                question_id=version.question_id,
                version=version.version,
                type=version.type,
                stem=version.stem,
                options=json.loads(version.options),
                given=json.loads(answer.answer) if answer else [],
                key=json.loads(version.answer),
                points=float(item["points"]),
                awarded=awarded,
                explanation=version.explanation,
            )
        )
    return wrong


@router.get("/summonses", response_model=Page[SummonsPublic], summary="约谈（多次考核不合格的单位）")
async def list_summonses(
    db: DbDep,
    caller: CallerDep,
    status: Literal["due", "held"] | None = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> Page[SummonsPublic]:
    async with db.session() as session:
        rows, next_cursor = await repository.summonses(
            session, caller, status=status, cursor=cursor, limit=limit
        )
    return Page(items=[summons_public(*row) for row in rows], next_cursor=next_cursor)


@router.post(
    "/summonses/{summons_id}/held", response_model=SummonsPublic, summary="登记约谈情况（日期、约谈人、结果）"
)
async def summons_held(summons_id: str, body: SummonsHeld, db: DbDep, caller: CallerDep) -> SummonsPublic:
    async with db.transaction(immediate=True) as session:
        summons, name = await service.hold_summons(
            session=session,
            caller=caller,
            summons_id=summons_id,
            held_on=body.held_on,
            held_by=body.held_by,
            outcome=body.outcome,
        )
    return summons_public(summons, name)


@router.get("/rectifications", response_model=Page[RectificationPublic], summary="督促考核不合格单位整改")
async def list_rectifications(
    db: DbDep,
    caller: CallerDep,
    status: Literal["open", "done"] | None = None,
    overdue: Annotated[bool | None, Query(description="true：仅逾期未办结；false：未逾期")] = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> Page[RectificationPublic]:
    async with db.session() as session:
        rows, next_cursor = await repository.rectifications(
            session, caller, status=status, overdue=overdue, today=today_cn(), cursor=cursor, limit=limit
        )
    return Page(items=[rectification_public(*row) for row in rows], next_cursor=next_cursor)


@router.post(
    "/rectifications/{rectification_id}/close",
    response_model=RectificationPublic,
    summary="督促整改办结（如已更换为考核合格人员）",
)
async def close_rectification(
    rectification_id: str, body: RectificationClose, db: DbDep, caller: CallerDep
) -> RectificationPublic:
    async with db.transaction(immediate=True) as session:
        row, name = await service.close_rectification(
            session=session, caller=caller, rectification_id=rectification_id, note=body.note
        )
    return rectification_public(row, name)


@router.post(
    "/questions/{question_id}/versions/{version}/key-correction",
    response_model=KeyCorrectionPublic,
    summary="阅卷更正：更正题目某一版本的标准答案，重新评分并公布更正结果",
)
async def key_correction(
    question_id: str, version: int, body: KeyCorrectionIn, db: DbDep, caller: CallerDep
) -> KeyCorrectionPublic:
    async with db.transaction(immediate=True) as session:
        report = await regrade.correct_key(
            session=session,
            caller=caller,
            question_id=question_id,
            version=version,
            answer=body.answer,
            reason=body.reason,
        )
    return KeyCorrectionPublic(**report)


@router.get(
    "/counts",
    response_model=MonthCounts,
    summary="统计表（附件5）：组织抽查考核人次、督促考核不合格单位整改家次（按区域、按月）",
)
async def counts(
    db: DbDep,
    caller: CallerDep,
    month: Annotated[str, Query(description="YYYY-MM")],
    region: Annotated[
        str | None, Query(description="行政区划代码或市场监管所代码", pattern=r"^\d{6}(\d{3})?$")
    ] = None,
) -> MonthCounts:
    exam_service.require_regulator(caller, region)
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise MonthInvalid(f"月份 {month} 须为 YYYY-MM", field="month")
    first, following = rules.month_bounds(month)
    async with db.session() as session:
        examined = await repository.month_examined(session, caller, first, following, region)
        opened = await repository.month_rectifications(session, caller, first, following, region)
    figures = rules.monthly_counts(examined, opened)
    items = [RegionCounts(**f.__dict__) for f in figures]
    total = RegionCounts(
        region_code=region or caller.region_code,
        production_persons=sum(f.production_persons for f in figures),
        sales_persons=sum(f.sales_persons for f in figures),
        rectified_units=sum(f.rectified_units for f in figures),
    )
    return MonthCounts(month=month, items=items, total=total)
