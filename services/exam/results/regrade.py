"""阅卷更正: a question version's key was wrong. Correcting it rescores every submitted sitting whose paper used
that version; a sitting whose score changed has its pending result updated, or its published result
superseded by a new published one (``correction_of``, reason 阅卷更正：…) that goes out as
``exam.result.published`` with the same consequences as any publication (registry lifts the bar of a fail
turned into a pass, or bars a pass turned into a fail).

Set-based: one query for the affected sittings (with their papers and plans), one for their answers to the
question, one for their results; the writes are flushed as executemany statements."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.db import today_cn, utcnow
from services.common.ids import new_id
from services.exam.bank import repository as bank_repository
from services.exam.bank import rules as bank_rules
from services.exam.bank import service as bank_service
from services.exam.bank.errors import QuestionNotFound, QuestionVersionNotFound
from services.exam.models import (
    ExamAnswer,
    ExamKeyCorrection,
    ExamPaper,
    ExamPlan,
    ExamResult,
    ExamSitting,
    QuestionVersion,
)
from services.exam.results import service
from services.exam.results.errors import KeyUnchanged
from services.exam.sittings.scoring import score_answer


def _draft(version: QuestionVersion, answer: list[str]) -> bank_rules.Draft:
    roles = [
        r
        for r, on in (("quality_director", version.for_director), ("quality_officer", version.for_officer))
        if on
    ]
    kinds = [k for k, on in (("production", version.for_production), ("sales", version.for_sales)) if on]
    return bank_rules.Draft(
        category=version.category,
        type=version.type,
        stem=version.stem,
        roles=roles,
        kinds=kinds,
        product_categories=json.loads(version.product_categories),
        options=json.loads(version.options),
        answer=answer,
        difficulty=version.difficulty,
        source=version.source,
        explanation=version.explanation,
    )


async def correct_key(
    *, session: AsyncSession, caller: Caller, question_id: str, version: int, answer: list[str], reason: str
) -> dict[str, Any]:
    bank_service.require_reader(caller)
    question = await bank_repository.get_readable(session, caller, question_id, for_update=True)
    if question is None:
        raise QuestionNotFound()
    bank_service.require_editor(caller, question)
    row = await bank_repository.get_version(session, question_id, version)
    if row is None:
        raise QuestionVersionNotFound(f"题目 {question.code} 没有第 {version} 版")
    draft = bank_rules.normalise(_draft(row, answer))
    problems = bank_rules.check(draft)
    if problems:
        first = problems[0]
        raise first.error("；".join(p.message for p in problems), errors=[p.public() for p in problems])
    old_answer = json.loads(row.answer)
    if draft.answer == old_answer:
        raise KeyUnchanged(f"第 {version} 版的答案已是 {'、'.join(old_answer)}", field="answer")
    columns = bank_rules.columns(draft)
    row.answer, row.content_sha256 = columns["answer"], columns["content_sha256"]
    if question.version == version:
        question.answer, question.content_sha256 = columns["answer"], columns["content_sha256"]
    rescored, changed, corrections = await _rescore(
        session, question_id, version, row.type, draft.answer, reason=reason
    )
    record = ExamKeyCorrection(
        id=new_id(),
        question_id=question_id,
        version=version,
        old_answer=json.dumps(old_answer),
        new_answer=columns["answer"],
        reason=reason,
        rescored=rescored,
        changed=changed,
        corrected_by=caller.username,
        corrected_at=utcnow(),
    )
    session.add(record)
    return {
        "id": record.id,
        "question_id": question_id,
        "version": version,
        "old_answer": old_answer,
        "new_answer": draft.answer,
        "reason": reason,
        "rescored": rescored,
        "changed": changed,
        "corrections": corrections,
    }


async def _rescore(
    session: AsyncSession, question_id: str, version: int, question_type: str, key: list[str], *, reason: str
) -> tuple[int, int, list[str]]:
    """Rescore the submitted sittings that used this version; (rescored, changed, new published results)."""
    stmt = (
        select(ExamSitting, ExamPaper, ExamPlan)
        .join(ExamPaper, ExamPaper.id == ExamSitting.paper_id)
        .join(ExamPlan, ExamPlan.id == ExamSitting.plan_id)
        .where(ExamSitting.status == "submitted", ExamPaper.questions.contains(question_id))  # type: ignore[attr-defined]
    )
    affected: dict[str, tuple[ExamSitting, ExamPlan, float]] = {}
    for sitting, paper, plan in (await session.execute(stmt)).all():
        for item in json.loads(paper.questions):
            if item["question_id"] == question_id and int(item["version"]) == version:
                affected[sitting.id] = (sitting, plan, float(item["points"]))
    if not affected:
        return 0, 0, []
    ids = sorted(affected)
    answers = {
        a.sitting_id: a
        for a in (
            await session.scalars(
                select(ExamAnswer).where(
                    ExamAnswer.question_id == question_id,
                    ExamAnswer.sitting_id.in_(ids),  # type: ignore[attr-defined]
                )
            )
        ).all()
    }
    moved: dict[str, ExamSitting] = {}
    for sitting_id in ids:
        sitting, plan, points = affected[sitting_id]
        answer = answers.get(sitting_id)
        if answer is None:
            continue  # unanswered: no points under any key
        awarded = score_answer(
            question_type,
            key,
            json.loads(answer.answer),
            points,
            scoring=plan.multiple_choice_scoring,
            partial_share=plan.partial_share,
        )
        before = answer.points or 0.0
        if awarded == before:
            continue
        answer.points = awarded
        sitting.score = round((sitting.score or 0.0) - before + awarded, 2)
        sitting.passed = sitting.score >= plan.pass_mark
        moved[sitting_id] = sitting
    corrections = await _correct_results(session, moved, {s: affected[s][1] for s in moved}, reason=reason)
    return len(ids), len(moved), corrections


async def _correct_results(
    session: AsyncSession, moved: dict[str, ExamSitting], plans: dict[str, ExamPlan], *, reason: str
) -> list[str]:
    if not moved:
        return []
    stmt = select(ExamResult).where(
        ExamResult.sitting_id.in_(sorted(moved)),  # type: ignore[attr-defined]
        ExamResult.status != "superseded",
    )
    today, now = today_cn(), utcnow()
    by_plan: dict[str, list[ExamResult]] = defaultdict(list)
    for result in (await session.scalars(stmt.order_by(ExamResult.created_at, ExamResult.id))).all():
        sitting = moved[result.sitting_id]
        outcome = "qualified" if sitting.passed else "failed"
        if result.status == "pending":  # not published yet: just the new score
            result.score, result.result = sitting.score or 0.0, outcome
            continue
        result.status = "superseded"
        correction = ExamResult(
            id=new_id(),
            sitting_id=result.sitting_id,
            plan_id=result.plan_id,
            manager_id=result.manager_id,
            enterprise_id=result.enterprise_id,
            region_code=result.region_code,
            role=result.role,
            kind=result.kind,
            score=sitting.score or 0.0,
            max_score=result.max_score,
            result=outcome,
            status="published",
            correction_of=result.id,
            reason=f"阅卷更正：{reason}",
            published_on=today,
            created_at=now,
        )
        session.add(correction)
        by_plan[result.plan_id].append(correction)
    made = []
    for plan_id, corrected in sorted(by_plan.items()):
        plan = next(p for p in plans.values() if p.id == plan_id)
        await service.announce(session, plan, corrected, today=today)
        made += [c.id for c in corrected]
    return made
