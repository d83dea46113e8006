"""The question bank's domain logic: who may read and keep which bank; create, edit (a new version) and retire."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.db import utcnow
from services.common.ids import new_id
from services.common.regions import level_of
from services.exam.bank import repository, rules
from services.exam.bank.errors import (
    BankRegulatorOnly,
    QuestionCodeDuplicate,
    QuestionEditForbidden,
    QuestionInvalid,
    QuestionNotFound,
    QuestionRetired,
    QuestionVersionStale,
)
from services.exam.bank.schemas import QuestionContentIn, QuestionCreate, QuestionUpdate
from services.exam.models import CONTENT_COLUMNS, Question, QuestionVersion


def require_reader(caller: Caller) -> None:
    """Only regulators read the bank: it holds the answer keys."""
    if not caller.is_regulator:
        raise BankRegulatorOnly("企业账号不能查看题库：题库含标准答案")


def owner_for(caller: Caller) -> str:
    """The bank a caller keeps: the province keeps the provincial bank, a city or county its local questions;
    a station keeps none."""
    require_reader(caller)
    if level_of(caller.region_code) == "station":
        raise QuestionEditForbidden("市场监管所不维护题库；本地题目由市、县（区）局录入")
    return caller.region_code


def require_editor(caller: Caller, question: Question) -> None:
    if question.owner_region != owner_for(caller):
        raise QuestionEditForbidden(f"该题目属于 {question.owner_region} 的题库，只能由该级监管部门维护")


def checked(body: QuestionContentIn) -> dict[str, Any]:
    """The stored columns of a question's content; raises 422 listing every problem, field by field."""
    draft = rules.normalise(body.draft())
    problems = rules.check(draft)
    if problems:
        first = problems[0]
        error = first.error if all(p.error is first.error for p in problems) else QuestionInvalid
        raise error("；".join(p.message for p in problems), errors=[p.public() for p in problems])
    return rules.columns(draft)


def version_row(question: Question, created_by: str, created_at: Any) -> dict[str, Any]:
    content = {name: getattr(question, name) for name in CONTENT_COLUMNS}
    return {
        **content,
        "question_id": question.id,
        "version": question.version,
        "created_by": created_by,
        "created_at": created_at,
    }


async def create(*, session: AsyncSession, caller: Caller, body: QuestionCreate) -> Question:
    owner = owner_for(caller)
    content = checked(body)
    question_id = new_id()
    code = body.code or f"Q-{question_id[:8]}{question_id[-4:]}".upper()
    if await repository.code_taken(session, owner, code):
        raise QuestionCodeDuplicate(f"本级题库已有题目编号 {code}", field="code")
    now = utcnow()
    question = Question(
        id=question_id,
        owner_region=owner,
        code=code,
        version=1,
        status="active",
        created_by=caller.username,
        created_at=now,
        updated_by=caller.username,
        updated_at=now,
        **content,
    )
    session.add(question)
    session.add(QuestionVersion(**version_row(question, caller.username, now)))
    return question


async def update(
    *, session: AsyncSession, caller: Caller, question_id: str, body: QuestionUpdate
) -> Question:
    """An edit: a new version when the content changed (the old one stays, read-only); none when it did not."""
    require_reader(caller)
    question = await repository.get_readable(session, caller, question_id, for_update=True)
    if question is None:
        raise QuestionNotFound()
    require_editor(caller, question)
    if question.status == "retired":
        raise QuestionRetired(f"题目 {question.code} 已停用，不能再修改")
    if body.version != question.version:
        raise QuestionVersionStale(
            f"您修改的是第 {body.version} 版，题目当前为第 {question.version} 版",
            current_version=question.version,
        )
    content = checked(body)
    if content["content_sha256"] == question.content_sha256:
        return question
    now = utcnow()
    for name, value in content.items():
        setattr(question, name, value)
    question.version += 1
    question.updated_by, question.updated_at = caller.username, now
    session.add(QuestionVersion(**version_row(question, caller.username, now)))
    return question


async def retire(*, session: AsyncSession, caller: Caller, question_id: str) -> Question:
    """停用: a retired question is never drawn again; its versions stay for the papers that hold them."""
    require_reader(caller)
    question = await repository.get_readable(session, caller, question_id, for_update=True)
    if question is None:
        raise QuestionNotFound()
    require_editor(caller, question)
    if question.status != "retired":
        question.status = "retired"
        question.retired_by, question.retired_at = caller.username, utcnow()
    return question
