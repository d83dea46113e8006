"""Papers and sittings: drawing a paper, starting, reading, autosaving, submitting (closing: ``closing.py``).

Every write runs in one transaction with what it causes (a close scores the sitting, writes its result and
emits ``exam.sitting.submitted`` together). Time is the server's: ``now`` comes from ``closing.clock(app)``, which
tests may replace on ``app.state.exam_clock`` to move past a deadline without waiting for it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.db import CHINA, Database, as_utc
from services.common.draw import new_seed
from services.common.ids import new_id
from services.exam.access import candidate_for, require_organiser, sees_plan
from services.exam.bank.rules import CATEGORY_NAMES, TYPE_NAMES
from services.exam.models import (
    ExamAnswer,
    ExamCandidate,
    ExamPaper,
    ExamPlan,
    ExamSitting,
)
from services.exam.sittings import errors, papers, repository, rules
from services.exam.sittings.closing import close
from services.exam.sittings.schemas import (
    AnsweredQuestion,
    AnswerSaved,
    OptionShown,
    PaperPublic,
    PaperQuestionPublic,
    SittingPublic,
)


def _beijing(moment: datetime) -> str:
    return as_utc(moment).astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def _sees(caller: Caller, plan: ExamPlan, uscc: str) -> bool:
    """The person through their unit's account, or an examiner: a regulator who sees the plan."""
    return sees_plan(caller, plan) or (caller.uscc is not None and caller.uscc == uscc)


def require_examiner(caller: Caller, plan: ExamPlan) -> None:
    if not (caller.is_regulator and sees_plan(caller, plan)):
        raise errors.ExaminerOnly()


# A plan is open for sittings once drawn, and stays open after its results are published while its window
# lasts: a late sitter and a retake (补考, which follows a published failure) still sit, and their results are
# published at once (results.service.on_sittings_submitted).
OPEN_STATUSES = ("published", "results_published")


def require_open(plan: ExamPlan, candidate: ExamCandidate) -> None:
    if plan.status not in OPEN_STATUSES:
        raise errors.PlanNotOpen(f"考核计划《{plan.title}》尚未抽取发布，不能考试")
    if candidate.status != "sampled":
        raise errors.PlanNotOpen("该人员已不在本计划的考核名单中（重新抽取时被撤回）")


# ------------------------------------------------------------------------------------------------- papers


async def draw_paper(
    session: AsyncSession, candidate: ExamCandidate, plan: ExamPlan, attempt: int, now: datetime
) -> dict[str, Any]:
    """Draw and store the candidate's paper of ``attempt`` (fixed from now on): one query for the bank, one for
    the person's earlier papers, one for the unit's fields, one for the drawn versions' texts."""
    blueprint = json.loads(plan.blueprint)
    bank = await repository.eligible_bank(
        session,
        organiser_region=plan.organiser_region,
        role=candidate.role,
        kind=candidate.kind,
        groups={(line["category"], line["type"]) for line in blueprint},
    )
    previous = await repository.previous_questions(session, candidate.manager_id)
    fields = await repository.unit_categories(session, candidate.enterprise_id)
    seed = new_seed()
    try:
        chosen = papers.choose(seed, blueprint, bank, unit_categories=fields, previous=previous)
    except papers.BankTooSmall as exc:
        raise errors.BankTooSmall(
            f"题库中适用于该人员的{CATEGORY_NAMES.get(exc.category, exc.category)}"
            f"{TYPE_NAMES.get(exc.type, exc.type)}只有 {exc.available} 道，试卷需要 {exc.needed} 道",
            category=exc.category,
            type=exc.type,
            needed=exc.needed,
            available=exc.available,
        ) from exc
    texts = await repository.contents(session, [c.question.question_id for c in chosen])
    options = {
        c.question.question_id: json.loads(texts[(c.question.question_id, c.question.version)].options)
        for c in chosen
    }
    drawn = papers.assemble(seed, chosen, {qid: [o["key"] for o in opts] for qid, opts in options.items()})
    entries = []
    for q in drawn:
        option_text = {o["key"]: o["text"] for o in options[q.question_id]}
        stem = texts[(q.question_id, q.version)].stem
        entries.append({**q.as_json(), "stem": stem, "texts": [option_text[k] for k in q.options]})
    row = {
        "id": new_id(),
        "candidate_id": candidate.id,
        "plan_id": plan.id,
        "manager_id": candidate.manager_id,
        "attempt": attempt,
        "seed": seed,
        "questions": json.dumps(entries, ensure_ascii=False),
        "max_score": papers.max_score(drawn),
        "created_at": now,
    }
    await session.execute(insert(ExamPaper), [row])
    return {**row, "entries": entries, "repeated": sum(1 for q in drawn if q.repeated)}


def shown_questions(entries: Sequence[dict[str, Any]]) -> list[PaperQuestionPublic]:
    return [
        PaperQuestionPublic(
            position=e["position"],
            question_id=e["question_id"],
            category=e["category"],
            type=e["type"],
            points=e["points"],
            stem=e["stem"],
            options=[OptionShown(label=papers.LABELS[i], text=t) for i, t in enumerate(e["texts"])],
        )
        for e in entries
    ]


async def paper_for_print(
    *, db: Database, caller: Caller, candidate_id: str, now: datetime, retry: bool = True
) -> PaperPublic:
    """纸质试卷: the candidate's open paper (drawn now if there is none): the one a paper sitting is entered for."""
    try:
        async with db.transaction(immediate=True) as session:
            candidate, plan = await candidate_for(session, caller, candidate_id)
            require_examiner(caller, plan)
            require_open(plan, candidate)
            latest = await repository.latest_paper(session, candidate.id)
            if latest is not None and latest.sitting_id is None:
                paper = latest.paper
                entries, attempt, seed, total = (
                    json.loads(paper.questions),
                    paper.attempt,
                    paper.seed,
                    paper.max_score,
                )
                paper_id = paper.id
            elif latest is not None:
                raise errors.SittingExists(
                    "该考核对象本次考试已有答卷；不合格的可安排补考", sitting_id=latest.sitting_id
                )
            else:
                drawn = await draw_paper(session, candidate, plan, 1, now)
                entries, attempt, seed, total = drawn["entries"], 1, drawn["seed"], drawn["max_score"]
                paper_id = drawn["id"]
    except IntegrityError:  # drawn meanwhile by another request: answer with that one
        if not retry:
            raise
        return await paper_for_print(db=db, caller=caller, candidate_id=candidate_id, now=now, retry=False)
    return PaperPublic(
        paper_id=paper_id,
        candidate_id=candidate_id,
        plan_id=plan.id,
        attempt=attempt,
        seed=seed,
        max_score=total,
        questions=shown_questions(entries),
    )


async def retake(
    *, db: Database, caller: Caller, candidate_id: str, now: datetime
) -> tuple[str, int, str, int]:
    """补考: after a failed sitting, the organiser allows one more: a paper of attempt + 1 is drawn, avoiding the
    questions of every earlier paper of the person. Returns (candidate, attempt, paper id, repeated)."""
    async with db.transaction(immediate=True) as session:
        candidate, plan = await candidate_for(session, caller, candidate_id)
        require_organiser(caller, plan)
        require_open(plan, candidate)
        latest = await repository.latest_paper(session, candidate.id)
        if latest is None or latest.sitting_id is None:
            raise errors.RetakeNotAllowed("该考核对象还没有答卷（或已可补考），无需安排补考")
        if latest.sitting_status != "submitted":
            raise errors.RetakeNotAllowed("该考核对象的考试尚未结束")
        if latest.passed is not False:
            raise errors.RetakeNotAllowed("该考核对象考试合格，无需补考")
        drawn = await draw_paper(session, candidate, plan, latest.paper.attempt + 1, now)
    return candidate_id, drawn["attempt"], drawn["id"], drawn["repeated"]


# ----------------------------------------------------------------------------------------------- sittings


async def start(*, db: Database, caller: Caller, candidate_id: str, now: datetime) -> str:
    """开始考试: the sitting of the candidate's open paper (drawn now if there is none), timed from now.
    Returns the sitting's id."""
    try:
        async with db.transaction(immediate=True) as session:
            candidate, plan = await candidate_for(session, caller, candidate_id)
            require_open(plan, candidate)
            if plan.mode == "paper":
                raise errors.PlanModeMismatch(f"考核计划《{plan.title}》为纸笔考核，答卷由考官录入")
            opens, closes = rules.window(plan.period_start, plan.period_end)
            if not opens <= now < closes:
                raise errors.OutsideWindow(
                    f"考试时间为 {_beijing(opens)} 至 {_beijing(closes)}（北京时间）",
                    opens_at=opens.isoformat(),
                    closes_at=closes.isoformat(),
                )
            latest = await repository.latest_paper(session, candidate.id)
            if latest is not None and latest.sitting_id is not None:
                raise _exists(latest.sitting_id)
            if latest is not None:
                paper_id, total = latest.paper.id, latest.paper.max_score
            else:
                drawn = await draw_paper(session, candidate, plan, 1, now)
                paper_id, total = drawn["id"], drawn["max_score"]
            sitting_id = new_id()
            await session.execute(
                insert(ExamSitting),
                [
                    {
                        "id": sitting_id,
                        "paper_id": paper_id,
                        "candidate_id": candidate.id,
                        "plan_id": plan.id,
                        "manager_id": candidate.manager_id,
                        "enterprise_id": candidate.enterprise_id,
                        "region_code": candidate.region_code,
                        "role": candidate.role,
                        "kind": candidate.kind,
                        "mode": "online",
                        "status": "in_progress",
                        "started_at": now,
                        "deadline_at": rules.deadline(now, plan.duration_minutes, closes),
                        "started_by": caller.username,
                        "max_score": total,
                    }
                ],
            )
    except IntegrityError:  # another start of the same candidate won the race
        async with db.session() as session:
            latest = await repository.latest_paper(session, candidate_id)
        if latest is not None and latest.sitting_id is not None:
            raise _exists(latest.sitting_id) from None
        raise
    return sitting_id


def _exists(sitting_id: str) -> errors.SittingExists:
    return errors.SittingExists(
        f"本次考试已开始（考试编号 {sitting_id}），不能重复开始", sitting_id=sitting_id
    )


async def _visible(
    session: AsyncSession, caller: Caller, sitting_id: str, *, lock: bool = False
) -> repository.SittingRow:
    row = await repository.sitting_row(session, sitting_id, lock=lock)
    if row is None or not _sees(caller, row.plan, row.uscc):
        raise errors.SittingNotFound(f"考试 {sitting_id} 不存在或不在您的管辖范围内")
    return row


def _closed(row: repository.SittingRow, submission: str | None = None) -> errors.SittingClosed:
    sitting = row.sitting
    if (submission or sitting.submission) in ("deadline", None):
        why = f"考试已于截止时间 {_beijing(sitting.deadline_at)}（北京时间）结束"
    else:
        why = f"答卷已于 {_beijing(sitting.submitted_at or sitting.deadline_at)}（北京时间）提交"
    return errors.SittingClosed(f"{why}，不能再作答", deadline_at=as_utc(sitting.deadline_at).isoformat())


async def read(*, db: Database, caller: Caller, sitting_id: str, now: datetime) -> SittingPublic:
    """The paper as the person sees it, with the saved answers; a sitting past its deadline is closed first."""
    async with db.session() as session:
        row = await _visible(session, caller, sitting_id)
        overdue = row.sitting.status == "in_progress" and rules.is_past(as_utc(row.sitting.deadline_at), now)
        answers = [] if overdue else await repository.answers_of(session, [sitting_id])
    if overdue:
        async with db.transaction(immediate=True) as session:
            await close(session, [sitting_id], "deadline", now)
        return await read(db=db, caller=caller, sitting_id=sitting_id, now=now)
    return view(row, answers, now)


def view(row: repository.SittingRow, answers: Sequence[Any], now: datetime) -> SittingPublic:
    sitting = row.sitting
    saved = {a.question_id: a for a in answers}
    questions = []
    for shown, entry in zip(shown_questions(row.questions), row.questions, strict=True):
        answer = saved.get(entry["question_id"])
        questions.append(
            AnsweredQuestion(
                **shown.model_dump(),
                answer=papers.to_shown(entry["options"], entry["type"], json.loads(answer.answer))
                if answer
                else None,
                revision=answer.revision if answer else None,
                saved_at=answer.saved_at if answer else None,
            )
        )
    submitted = sitting.status == "submitted"
    return SittingPublic(
        id=sitting.id,
        candidate_id=sitting.candidate_id,
        plan_id=sitting.plan_id,
        paper_id=sitting.paper_id,
        attempt=row.attempt,
        mode=sitting.mode,  # type: ignore[arg-type]
        status=sitting.status,  # type: ignore[arg-type]
        submission=sitting.submission,  # type: ignore[arg-type]
        started_at=sitting.started_at,
        deadline_at=sitting.deadline_at,
        remaining_seconds=0 if submitted else rules.remaining_seconds(as_utc(sitting.deadline_at), now),
        submitted_at=sitting.submitted_at,
        max_score=sitting.max_score,
        score=sitting.score if submitted else None,
        passed=sitting.passed if submitted else None,
        questions=questions,
    )


def checked_answer(entry: dict[str, Any], answer: Sequence[str], *, field: str) -> list[str]:
    """An answer in shown labels, validated against the question and mapped to the version's keys (422)."""
    problem = rules.check_answer(entry["type"], len(entry["options"]), answer)
    if problem is not None:
        raise errors.AnswerInvalid(f"第 {entry['position']} 题：{problem}", field=field)
    return papers.to_original(entry["options"], entry["type"], answer)


def _upsert(session: AsyncSession):  # type: ignore[no-untyped-def]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert_ = postgresql_insert if dialect == "postgresql" else sqlite_insert
    table = ExamAnswer.__table__  # type: ignore[attr-defined]
    stmt = insert_(table)
    return table, stmt.on_conflict_do_update(
        index_elements=[table.c.sitting_id, table.c.question_id],
        set_={
            "revision": stmt.excluded.revision,
            "answer": stmt.excluded.answer,
            "saved_at": stmt.excluded.saved_at,
        },
        where=table.c.revision < stmt.excluded.revision,
    )


async def save_answers(
    *,
    db: Database,
    caller: Caller,
    sitting_id: str,
    items: Sequence[tuple[str, int, list[str]]],
    now: datetime,
) -> list[AnswerSaved]:
    """自动保存: answers (question id, revision, shown labels) applied with one statement; a revision not above
    the stored one changes nothing. Past the deadline the sitting is closed first and the answers refused."""
    closed: errors.SittingClosed | None = None
    async with db.transaction(immediate=True) as session:
        row = await _visible(session, caller, sitting_id, lock=True)
        if row.sitting.status != "in_progress":
            closed = _closed(row)
        elif rules.is_past(as_utc(row.sitting.deadline_at), now):
            await close(session, [sitting_id], "deadline", now)
            closed = _closed(row, "deadline")
        else:
            by_id = {e["question_id"]: e for e in row.questions}
            latest: dict[str, dict[str, Any]] = {}
            for index, (question_id, revision, answer) in enumerate(items):
                entry = by_id.get(question_id)
                if entry is None:
                    raise errors.PaperQuestionNotFound(f"本试卷没有题目 {question_id}")
                keys = checked_answer(entry, answer, field=f"{index}.answer" if len(items) > 1 else "answer")
                if question_id not in latest or latest[question_id]["revision"] < revision:
                    latest[question_id] = {
                        "sitting_id": sitting_id,
                        "question_id": question_id,
                        "revision": revision,
                        "answer": json.dumps(keys),
                        "saved_at": now,
                    }
            table, stmt = _upsert(session)
            applied = set(
                (
                    await session.execute(stmt.values(list(latest.values())).returning(table.c.question_id))
                ).scalars()
            )
            stored = await session.execute(
                select(
                    ExamAnswer.question_id, ExamAnswer.revision, ExamAnswer.answer, ExamAnswer.saved_at
                ).where(
                    ExamAnswer.sitting_id == sitting_id,
                    ExamAnswer.question_id.in_(latest),  # type: ignore[attr-defined]
                )
            )
            result = [
                AnswerSaved(
                    question_id=s.question_id,
                    revision=s.revision,
                    answer=papers.to_shown(
                        by_id[s.question_id]["options"], by_id[s.question_id]["type"], json.loads(s.answer)
                    ),
                    saved_at=s.saved_at,
                    applied=s.question_id in applied,
                )
                for s in stored
            ]
    if closed is not None:
        raise closed
    order = {question_id: i for i, (question_id, _, _) in enumerate(items)}
    return sorted(result, key=lambda saved: order[saved.question_id])


async def submit(*, db: Database, caller: Caller, sitting_id: str, now: datetime) -> SittingPublic:
    """交卷 by the person (or the examiner beside them): scored at once. Submitting again changes nothing; past
    the deadline the sitting closes as at the deadline, with the answers saved before it."""
    async with db.transaction(immediate=True) as session:
        row = await _visible(session, caller, sitting_id, lock=True)
        if row.sitting.status == "in_progress":
            past = rules.is_past(as_utc(row.sitting.deadline_at), now)
            await close(session, [sitting_id], "deadline" if past else "person", now)
    return await read(db=db, caller=caller, sitting_id=sitting_id, now=now)
