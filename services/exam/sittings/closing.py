"""Closing sittings (交卷): by the person, at the deadline (the background job, or the first read or write after
it), or entered by an examiner; each closed sitting is scored, its result written (pending until 公布) and
``exam.sitting.submitted`` emitted in the closing transaction, a constant number of statements for any number
of sittings."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import periodic
from services.common.db import Database, as_utc, utcnow
from services.common.events import EXAM_SITTING_SUBMITTED, ExamSittingSubmitted
from services.common.ids import new_ids
from services.common.messaging import emit
from services.exam.models import ExamAnswer, ExamResult, ExamSitting
from services.exam.sittings import repository, scoring

CLOSE_BATCH = 200  # sittings closed per transaction by the deadline job


def clock(app: FastAPI) -> datetime:
    """The server's time (UTC); ``app.state.exam_clock`` replaces it in tests."""
    replaced = getattr(app.state, "exam_clock", None)
    return replaced() if replaced is not None else utcnow()


async def close(session: AsyncSession, sitting_ids: Sequence[str], submission: str, now: datetime) -> int:
    """End these sittings (those still in progress), score them, write their results (pending until 公布) and
    emit ``exam.sitting.submitted`` for each: a constant number of statements for any number of sittings.
    A sitting closed at the deadline counts as submitted at its deadline."""
    table = ExamSitting.__table__  # type: ignore[attr-defined]
    claimed: list[str] = []
    for part in repository.chunks(list(sitting_ids)):
        result = await session.execute(
            update(table)
            .where(table.c.id.in_(part), table.c.status == "in_progress")
            .values(
                status="submitted",
                submission=submission,
                submitted_at=table.c.deadline_at if submission == "deadline" else now,
            )
            .returning(table.c.id)
        )
        claimed.extend(result.scalars())
    if not claimed:
        return 0
    sittings = await repository.to_close(session, claimed)
    entries = {s.id: json.loads(s.questions) for s in sittings}
    keys = await repository.contents(session, [e["question_id"] for es in entries.values() for e in es])
    saved: dict[str, dict[str, list[str]]] = {}
    for a in await repository.answers_of(session, claimed):
        saved.setdefault(a.sitting_id, {})[a.question_id] = json.loads(a.answer)
    answer_points: list[dict[str, Any]] = []
    sitting_scores: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    result_ids = iter(new_ids(len(sittings)))
    for s in sittings:
        answers = saved.get(s.id, {})
        scored = scoring.score_sitting(
            (
                scoring.KeyedQuestion(
                    e["question_id"],
                    e["type"],
                    json.loads(keys[(e["question_id"], e["version"])].answer),
                    e["points"],
                )
                for e in entries[s.id]
            ),
            answers,
            scoring=s.multiple_choice_scoring,
            partial_share=s.partial_share,
            pass_mark=s.pass_mark,
        )
        answer_points += [
            {"b_sitting": s.id, "b_question": q, "b_points": scored.points[q]}
            for q in answers
            if q in scored.points
        ]
        sitting_scores.append({"b_id": s.id, "b_score": scored.score, "b_passed": scored.passed})
        submitted_at = as_utc(s.submitted_at)
        results.append(
            {
                "id": next(result_ids),
                "sitting_id": s.id,
                "plan_id": s.plan_id,
                "manager_id": s.manager_id,
                "enterprise_id": s.enterprise_id,
                "region_code": s.region_code,
                "role": s.role,
                "kind": s.kind,
                "score": scored.score,
                "max_score": s.max_score,
                "result": "qualified" if scored.passed else "failed",
                "status": "pending",
                "correction_of": None,
                "reason": None,
                "published_on": None,
                "created_at": now,
            }
        )
        emit(
            session,
            EXAM_SITTING_SUBMITTED,
            ExamSittingSubmitted(
                sitting_id=s.id,
                plan_id=s.plan_id,
                enterprise_id=s.enterprise_id,
                manager_id=s.manager_id,
                role=s.role,
                kind=s.kind,
                mode=s.mode,
                submission=s.submission,
                submitted_at=submitted_at,
                score=scored.score,
                max_score=s.max_score,
            ),
            region=s.region_code,
            enterprise_id=s.enterprise_id,
        )
    answers_table = ExamAnswer.__table__  # type: ignore[attr-defined]
    if answer_points:
        await session.execute(
            update(answers_table)
            .where(
                answers_table.c.sitting_id == bindparam("b_sitting"),
                answers_table.c.question_id == bindparam("b_question"),
            )
            .values(points=bindparam("b_points")),
            answer_points,
        )
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(score=bindparam("b_score"), passed=bindparam("b_passed")),
        sitting_scores,
    )
    await session.execute(insert(ExamResult), results)
    return len(claimed)


async def close_overdue(db: Database, now: datetime) -> int:
    """到时自动交卷: every sitting still in progress at its deadline, closed in batches (set-based)."""
    closed = 0
    while True:
        async with db.transaction(immediate=True) as session:
            ids = list(
                (
                    await session.scalars(
                        select(ExamSitting.id)
                        .where(ExamSitting.status == "in_progress", ExamSitting.deadline_at <= now)
                        .order_by(ExamSitting.deadline_at)
                        .limit(CLOSE_BATCH)
                    )
                ).all()
            )
            if ids:
                closed += await close(session, ids, "deadline", now)
        if len(ids) < CLOSE_BATCH:
            return closed


async def _close_overdue(app: FastAPI) -> str:
    closed = await close_overdue(app.state.db, clock(app))
    return f"sittings closed at their deadline: {closed}" if closed else ""


# Close sittings past their deadline at start, then every ``exam_deadline_check_interval_seconds``.
deadline_job = periodic(
    "deadline_checks", lambda settings: settings.exam_deadline_check_interval_seconds, _close_overdue
)
