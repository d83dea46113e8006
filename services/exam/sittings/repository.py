"""Every query of papers and sittings. Reads that decide access join the sitting, its paper, its plan and its
candidate in one statement; the draw reads the eligible bank in one statement."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.exam.models import (
    ExamAnswer,
    ExamCandidate,
    ExamPaper,
    ExamPlan,
    ExamSitting,
    ExamUnit,
    Question,
    QuestionVersion,
)
from services.exam.sittings.papers import BankQuestion

CHUNK = 1000  # ids per IN list


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def bank_owners(organiser_region: str) -> list[str]:
    """The banks a plan's organiser may draw from: the province's, its city's and its county's (a station
    uses its county's local questions)."""
    county = organiser_region[:6]
    return list(dict.fromkeys((county[:2] + "0000", county[:4] + "00", county)))


async def eligible_bank(
    session: AsyncSession, *, organiser_region: str, role: str, kind: str, groups: set[tuple[str, str]]
) -> list[BankQuestion]:
    """Active questions for the role and kind of unit, in a bank the organiser may use, of the blueprint's
    categories and types; the product fields are matched in ``papers.draw_paper``."""
    role_flag = Question.for_director if role == "quality_director" else Question.for_officer
    kind_flag = Question.for_production if kind == "production" else Question.for_sales
    rows = await session.execute(
        select(
            Question.id,
            Question.version,
            Question.category,
            Question.type,
            Question.options,
            Question.product_categories,
        ).where(
            Question.status == "active",
            role_flag == true(),
            kind_flag == true(),
            Question.owner_region.in_(bank_owners(organiser_region)),  # type: ignore[attr-defined]
            Question.category.in_({c for c, _ in groups}),  # type: ignore[attr-defined]
            Question.type.in_({t for _, t in groups}),  # type: ignore[attr-defined]
        )
    )
    return [
        BankQuestion(
            question_id=id_,
            version=version,
            category=category,
            type=type_,
            option_keys=tuple(o["key"] for o in json.loads(options)) if type_ != "true_false" else (),
            product_categories=tuple(json.loads(fields)) if fields not in ("[]", "") else (),
        )
        for id_, version, category, type_, options, fields in rows
    ]


async def previous_questions(session: AsyncSession, manager_id: str) -> set[str]:
    """The questions of every paper the person had (any plan)."""
    rows = await session.scalars(select(ExamPaper.questions).where(ExamPaper.manager_id == manager_id))
    return {q["question_id"] for paper in rows for q in json.loads(paper)}


async def unit_categories(session: AsyncSession, enterprise_id: str) -> list[str]:
    fields = await session.scalar(select(ExamUnit.product_categories).where(ExamUnit.id == enterprise_id))
    return json.loads(fields) if fields else []


async def contents(session: AsyncSession, question_ids: Sequence[str]) -> dict[tuple[str, int], Any]:
    """The versions of these questions (stems, options, keys), by (question id, version)."""
    found: dict[tuple[str, int], Any] = {}
    for part in chunks(sorted(set(question_ids))):
        rows = await session.execute(
            select(
                QuestionVersion.question_id,
                QuestionVersion.version,
                QuestionVersion.stem,
                QuestionVersion.options,
                QuestionVersion.answer,
            ).where(QuestionVersion.question_id.in_(part))  # type: ignore[attr-defined]
        )
        for row in rows:
            found[(row.question_id, row.version)] = row
    return found


@dataclass
class LatestPaper:
    paper: ExamPaper
    sitting_id: str | None
    sitting_status: str | None
    passed: bool | None


async def latest_paper(session: AsyncSession, candidate_id: str) -> LatestPaper | None:
    """The candidate's paper of the highest attempt, and its sitting if there is one."""
    row = (
        await session.execute(
            select(ExamPaper, ExamSitting.id, ExamSitting.status, ExamSitting.passed)
            .outerjoin(ExamSitting, ExamSitting.paper_id == ExamPaper.id)
            .where(ExamPaper.candidate_id == candidate_id)
            .order_by(ExamPaper.attempt.desc())  # type: ignore[attr-defined]
            .limit(1)
        )
    ).first()
    return LatestPaper(*row) if row is not None else None


@dataclass
class SittingRow:
    sitting: ExamSitting
    questions: list[dict[str, Any]]
    attempt: int
    plan: ExamPlan
    uscc: str


async def sitting_row(session: AsyncSession, sitting_id: str, *, lock: bool = False) -> SittingRow | None:
    """A sitting with its paper, plan and the candidate's unit: one statement. ``lock``: the sitting row is
    locked (FOR UPDATE on PostgreSQL) so that an answer and the deadline's closing queue."""
    stmt = (
        select(ExamSitting, ExamPaper.questions, ExamPaper.attempt, ExamPlan, ExamCandidate.uscc)
        .join(ExamPaper, ExamPaper.id == ExamSitting.paper_id)
        .join(ExamPlan, ExamPlan.id == ExamSitting.plan_id)
        .join(ExamCandidate, ExamCandidate.id == ExamSitting.candidate_id)
        .where(ExamSitting.id == sitting_id)
    )
    if lock:
        stmt = stmt.with_for_update(of=ExamSitting)  # type: ignore[arg-type]
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    sitting, questions, attempt, plan, uscc = row
    return SittingRow(sitting, json.loads(questions), attempt, plan, uscc)


async def answers_of(session: AsyncSession, sitting_ids: Sequence[str]) -> list[Any]:
    found: list[Any] = []
    for part in chunks(list(sitting_ids)):
        rows = await session.execute(
            select(
                ExamAnswer.sitting_id,
                ExamAnswer.question_id,
                ExamAnswer.revision,
                ExamAnswer.answer,
                ExamAnswer.saved_at,
            ).where(ExamAnswer.sitting_id.in_(part))  # type: ignore[attr-defined]
        )
        found.extend(rows)
    return found


async def to_close(session: AsyncSession, ids: Sequence[str]) -> list[Any]:
    """What scoring needs of the sittings just claimed: the sitting, its paper's questions, the plan's rules."""
    rows: list[Any] = []
    for part in chunks(list(ids)):
        result = await session.execute(
            select(
                ExamSitting.id,
                ExamSitting.plan_id,
                ExamSitting.manager_id,
                ExamSitting.enterprise_id,
                ExamSitting.region_code,
                ExamSitting.role,
                ExamSitting.kind,
                ExamSitting.mode,
                ExamSitting.submission,
                ExamSitting.submitted_at,
                ExamPaper.questions,
                ExamPaper.max_score,
                ExamPlan.multiple_choice_scoring,
                ExamPlan.partial_share,
                ExamPlan.pass_mark,
            )
            .join(ExamPaper, ExamPaper.id == ExamSitting.paper_id)
            .join(ExamPlan, ExamPlan.id == ExamSitting.plan_id)
            .where(ExamSitting.id.in_(part))  # type: ignore[attr-defined]
        )
        rows.extend(result)
    return rows
