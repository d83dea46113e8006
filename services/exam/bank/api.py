"""Question bank routes: parse, authorise, call the service, shape the response."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Response, UploadFile

from services.common.app import DbDep
from services.common.auth import CallerDep
from services.common.pagination import MAX_LIMIT, Page
from services.common.regions import level_of
from services.exam.bank import importer, repository, service, sheet
from services.exam.bank.errors import QuestionNotFound, QuestionVersionNotFound
from services.exam.bank.schemas import (
    Category,
    ImportReport,
    Kind,
    QuestionCreate,
    QuestionPublic,
    QuestionType,
    QuestionUpdate,
    Role,
    content_public,
)
from services.exam.models import Question, QuestionVersion

router = APIRouter(tags=["question bank 题库"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Writes read the question (locked: FOR UPDATE on PostgreSQL) before they change it; on SQLite the transaction
# takes the write lock at once (immediate), so that two edits of one version queue, and the second is 409.


def public(question: Question, version: QuestionVersion | None = None) -> QuestionPublic:
    """A question as it stands, or one of its versions (``version``) with the question's status."""
    shown: Any = version or question
    return QuestionPublic(
        id=question.id,
        code=question.code,
        owner_region=question.owner_region,
        scope="province" if level_of(question.owner_region) == "province" else "local",
        version=version.version if version else question.version,
        current_version=question.version,
        status=question.status,  # type: ignore[arg-type]
        version_created_by=shown.created_by if version else question.updated_by,
        version_created_at=shown.created_at if version else question.updated_at,
        retired_at=question.retired_at,
        **content_public(shown),
    )


@router.get(
    "/questions/import-template.xlsx",
    summary="下载题库导入模板（.xlsx）",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
)
async def import_template(caller: CallerDep) -> Response:
    service.require_reader(caller)
    return Response(
        sheet.template(),
        media_type=XLSX,
        headers={"Content-Disposition": "attachment; filename*=UTF-8''question-bank-template.xlsx"},
    )


@router.post(
    "/questions/import",
    response_model=ImportReport,
    summary="导入题目（.xlsx 或 .csv，按题目编号新增或生成新版本）",
    description=sheet.__doc__,
)
async def import_questions(
    db: DbDep,
    caller: CallerDep,
    file: Annotated[UploadFile, File(description="题库表格：.xlsx 或 .csv（UTF-8/GB18030）")],
) -> ImportReport:
    return await importer.import_questions(db=db, caller=caller, upload=file)


@router.post("/questions", status_code=201, response_model=QuestionPublic, summary="录入题目（本级题库）")
async def create_question(body: QuestionCreate, db: DbDep, caller: CallerDep) -> QuestionPublic:
    async with db.transaction(immediate=True) as session:
        question = await service.create(session=session, caller=caller, body=body)
    return public(question)


@router.get("/questions", response_model=Page[QuestionPublic], summary="题目列表（管辖范围内可见的题库）")
async def list_questions(
    db: DbDep,
    caller: CallerDep,
    category: Category | None = None,
    role: Role | None = None,
    kind: Kind | None = None,
    type: Annotated[QuestionType | None, Query(description="题型")] = None,
    q: Annotated[str | None, Query(description="题干关键词或题目编号", max_length=200)] = None,
    owner_region: Annotated[str | None, Query(description="只看某一级题库", pattern=r"^\d{6}$")] = None,
    include_retired: Annotated[bool, Query(description="含已停用题目")] = False,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Page[QuestionPublic]:
    service.require_reader(caller)
    filters = {
        "category": category,
        "role": role,
        "kind": kind,
        "type": type,
        "q": q,
        "owner_region": owner_region,
        "include_retired": include_retired,
    }
    async with db.session() as session:
        rows, next_cursor = await repository.page(session, caller, filters, cursor=cursor, limit=limit)
    return Page(items=[public(row) for row in rows], next_cursor=next_cursor)


@router.get(
    "/questions/{question_id}", response_model=QuestionPublic, summary="题目详情（当前版本，或 ?version=）"
)
async def get_question(
    question_id: str,
    db: DbDep,
    caller: CallerDep,
    version: Annotated[int | None, Query(ge=1, description="历史版本号")] = None,
) -> QuestionPublic:
    service.require_reader(caller)
    async with db.session() as session:
        question = await repository.get_readable(session, caller, question_id)
        if question is None:
            raise QuestionNotFound()
        if version is None:
            return public(question)
        row = await repository.get_version(session, question_id, version)
    if row is None:
        raise QuestionVersionNotFound(
            f"题目 {question.code} 没有第 {version} 版（当前为第 {question.version} 版）"
        )
    return public(question, row)


@router.get(
    "/questions/{question_id}/versions", response_model=list[QuestionPublic], summary="题目的全部版本（只读）"
)
async def list_versions(question_id: str, db: DbDep, caller: CallerDep) -> list[QuestionPublic]:
    service.require_reader(caller)
    async with db.session() as session:
        question = await repository.get_readable(session, caller, question_id)
        if question is None:
            raise QuestionNotFound()
        rows = await repository.versions(session, question_id)
    return [public(question, row) for row in rows]


@router.put(
    "/questions/{question_id}", response_model=QuestionPublic, summary="修改题目（内容变化即生成新版本）"
)
async def update_question(
    question_id: str, body: QuestionUpdate, db: DbDep, caller: CallerDep
) -> QuestionPublic:
    async with db.transaction(immediate=True) as session:
        question = await service.update(session=session, caller=caller, question_id=question_id, body=body)
    return public(question)


@router.post("/questions/{question_id}/retire", response_model=QuestionPublic, summary="停用题目（不再抽取）")
async def retire_question(question_id: str, db: DbDep, caller: CallerDep) -> QuestionPublic:
    async with db.transaction(immediate=True) as session:
        question = await service.retire(session=session, caller=caller, question_id=question_id)
    return public(question)
