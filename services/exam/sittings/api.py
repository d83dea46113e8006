"""Paper and sitting routes: parse, authorise (in the service, through ``services.exam.access``), call the
service, shape the response. The person acts through their unit's enterprise account; an examiner is a
regulator who sees the plan."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Request, Response, UploadFile
from pydantic import Field

from services.common.app import DbDep
from services.common.auth import CallerDep
from services.exam.sittings import closing, paper_sittings, service
from services.exam.sittings.schemas import (
    MAX_BATCH,
    AnswerIn,
    AnswerSaved,
    BatchAnswerIn,
    BatchSaved,
    PaperPublic,
    PaperSittingImportReport,
    PaperSittingIn,
    RetakePublic,
    SittingPublic,
)

router = APIRouter(tags=["sittings 试卷与考试"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def server_now(request: Request) -> datetime:
    return closing.clock(request.app)


NowDep = Annotated[datetime, Depends(server_now)]
Id = Annotated[str, Path(max_length=36)]


@router.post(
    "/candidates/{candidate_id}/sittings",
    status_code=201,
    response_model=SittingPublic,
    summary="开始考试（抽取并固定试卷，开始计时）",
    description="本人通过所在单位账号，或考官（可见该计划的监管人员）现场开始。只能在考试时间内开始一次；"
    "已开始时返回 409 EXAM_SITTING_EXISTS（含 sitting_id）。截止时间 = min(开始时间 + 考试时长, 考试时间结束)。",
)
async def start(candidate_id: Id, db: DbDep, caller: CallerDep, now: NowDep) -> SittingPublic:
    sitting_id = await service.start(db=db, caller=caller, candidate_id=candidate_id, now=now)
    return await service.read(db=db, caller=caller, sitting_id=sitting_id, now=now)


@router.get(
    "/sittings/{sitting_id}",
    response_model=SittingPublic,
    summary="考试详情：试卷（不含答案）、已保存的作答、剩余时间",
)
async def read(sitting_id: Id, db: DbDep, caller: CallerDep, now: NowDep) -> SittingPublic:
    return await service.read(db=db, caller=caller, sitting_id=sitting_id, now=now)


@router.put(
    "/sittings/{sitting_id}/answers/{question_id}",
    response_model=AnswerSaved,
    summary="保存一题的答案（自动保存，按修订号幂等）",
    description="修订号不大于已保存的时不改变答案，返回已保存的答案（applied=false）。截止或交卷后 409 EXAM_SITTING_CLOSED。",
)
async def save_answer(
    sitting_id: Id, question_id: Id, body: AnswerIn, db: DbDep, caller: CallerDep, now: NowDep
) -> AnswerSaved:
    (saved,) = await service.save_answers(
        db=db,
        caller=caller,
        sitting_id=sitting_id,
        items=[(question_id, body.revision, body.answer)],
        now=now,
    )
    return saved


@router.put(
    "/sittings/{sitting_id}/answers",
    response_model=BatchSaved,
    summary="批量保存答案（断网恢复后一次提交）",
)
async def save_answers(
    sitting_id: Id,
    body: Annotated[list[BatchAnswerIn], Field(min_length=1, max_length=MAX_BATCH)],
    db: DbDep,
    caller: CallerDep,
    now: NowDep,
) -> BatchSaved:
    items = [(item.question_id, item.revision, item.answer) for item in body]
    return BatchSaved(
        items=await service.save_answers(db=db, caller=caller, sitting_id=sitting_id, items=items, now=now)
    )


@router.post("/sittings/{sitting_id}/submit", response_model=SittingPublic, summary="交卷（立即评分）")
async def submit(sitting_id: Id, db: DbDep, caller: CallerDep, now: NowDep) -> SittingPublic:
    return await service.submit(db=db, caller=caller, sitting_id=sitting_id, now=now)


@router.post(
    "/candidates/{candidate_id}/paper",
    response_model=PaperPublic,
    summary="抽取（或取回）纸质试卷，供打印（纸笔考核）",
)
async def paper(candidate_id: Id, db: DbDep, caller: CallerDep, now: NowDep) -> PaperPublic:
    return await service.paper_for_print(db=db, caller=caller, candidate_id=candidate_id, now=now)


@router.post(
    "/candidates/{candidate_id}/paper-sittings",
    status_code=201,
    response_model=SittingPublic,
    summary="录入纸笔考核答卷（考官，按题号）",
)
async def enter_paper_sitting(
    candidate_id: Id, body: PaperSittingIn, db: DbDep, caller: CallerDep, now: NowDep
) -> SittingPublic:
    sitting_id = await paper_sittings.enter(
        db=db, caller=caller, candidate_id=candidate_id, answers=body.answers, now=now
    )
    return await service.read(db=db, caller=caller, sitting_id=sitting_id, now=now)


@router.get(
    "/plans/{plan_id}/paper-sittings/import-template.xlsx",
    summary="下载纸笔考核答卷导入模板（已抽取试卷的考核对象与题号已填好）",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
)
async def import_template(plan_id: Id, db: DbDep, caller: CallerDep) -> Response:
    content = await paper_sittings.template(db=db, caller=caller, plan_id=plan_id)
    return Response(
        content,
        media_type=XLSX,
        headers={"Content-Disposition": "attachment; filename*=UTF-8''paper-sittings-template.xlsx"},
    )


@router.post(
    "/plans/{plan_id}/paper-sittings/import",
    response_model=PaperSittingImportReport,
    summary="导入纸笔考核答卷（.xlsx 或 .csv）",
    description=paper_sittings.__doc__,
)
async def import_paper_sittings(
    plan_id: Id,
    db: DbDep,
    caller: CallerDep,
    now: NowDep,
    file: Annotated[UploadFile, File(description="答卷表格：考核对象编号、题号、答案")],
) -> PaperSittingImportReport:
    return await paper_sittings.import_sheet(db=db, caller=caller, plan_id=plan_id, upload=file, now=now)


@router.post(
    "/candidates/{candidate_id}/retake",
    status_code=201,
    response_model=RetakePublic,
    summary="安排补考（考试不合格后，由组织考核的部门办理）",
)
async def retake(candidate_id: Id, db: DbDep, caller: CallerDep, now: NowDep) -> RetakePublic:
    candidate, attempt, paper_id, repeated = await service.retake(
        db=db, caller=caller, candidate_id=candidate_id, now=now
    )
    return RetakePublic(
        candidate_id=candidate, attempt=attempt, paper_id=paper_id, repeated_questions=repeated
    )
