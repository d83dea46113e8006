"""Every query of papers and sittings. Reads that decide access join the sitting, its paper, its plan and its
candidate in one statement; the draw reads the eligible bank in one statement."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, true
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


_BANKS: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], list[BankQuestion]]] = OrderedDict()
_BANKS_KEPT = 16  # (banks, role, kind, blueprint lines) combinations kept in this process


async def eligible_bank(
    session: AsyncSession, *, organiser_region: str, role: str, kind: str, groups: set[tuple[str, str]]
) -> list[BankQuestion]:
    """Active questions for the role and kind of unit, in a bank the organiser may use, of the blueprint's
    categories and types; the product fields are matched in ``papers.choose``. Only what the choice needs is
    read (the options of the chosen questions come after, with their texts).

    A thousand candidates starting at once draw from the same bank: the list read is kept in this process and
    used again while the banks' fingerprint (how many questions, the latest edit, the latest retirement: one
    indexed aggregate) is unchanged, so an edit, a new question or a retirement is seen by the next draw."""
    owners = bank_owners(organiser_region)
    conn = await session.connection()
    table = Question.__table__  # type: ignore[attr-defined]
    fingerprint = tuple(
        (
            await conn.execute(
                select(func.count(), func.max(table.c.updated_at), func.max(table.c.retired_at)).where(
                    table.c.owner_region.in_(owners)
                )
            )
        ).one()
    )
    key = (str(conn.engine.url), tuple(owners), role, kind, tuple(sorted(groups)))
    kept = _BANKS.get(key)
    if kept is not None and kept[0] == fingerprint:
        _BANKS.move_to_end(key)
        return kept[1]
    role_flag = table.c.for_director if role == "quality_director" else table.c.for_officer
    kind_flag = table.c.for_production if kind == "production" else table.c.for_sales
    # Core on the session's connection: the ORM's row handling costs three times as much for 10,000 rows.
    rows = await conn.execute(
        select(table.c.id, table.c.version, table.c.category, table.c.type, table.c.product_categories).where(
            table.c.status == "active",
            role_flag == true(),
            kind_flag == true(),
            table.c.owner_region.in_(owners),
            table.c.category.in_(sorted({c for c, _ in groups})),
            table.c.type.in_(sorted({t for _, t in groups})),
        )
    )
    bank = [
        BankQuestion(
            question_id=id_,
            version=version,
            category=category,
            type=type_,
            product_categories=tuple(json.loads(fields)) if fields not in ("[]", "") else (),
        )
        for id_, version, category, type_, fields in rows
    ]
    _BANKS[key] = (fingerprint, bank)
    while len(_BANKS) > _BANKS_KEPT:
        _BANKS.popitem(last=False)
    return bank


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
