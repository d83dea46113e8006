"""纸笔考核: a paper sitting entered by the examiner, one candidate at a time or imported from a sheet.

The answers are those written on the printed paper (``POST /candidates/{id}/paper``), in its labels, per 题号;
they are checked like online answers and scored the same way, with submission ``examiner``.

The sheet (``.xlsx``, or ``.csv`` in UTF-8 or GB18030; row 1 the header, one answer a row):

==============  ===================================================================================
★考核对象编号    the candidate's id (``candidate_id``)
★题号            the question's number on the paper (1, 2, …), or its question id
 答案            the labels circled (``B``, ``ACD``, ``A、C``); 判断题 正确/错误 (对/错, √/×); blank: not answered
==============  ===================================================================================

A candidate's rows become one sitting. A candidate with any bad row is not entered (every bad row is reported
with its number and a Chinese reason), the others are; a candidate already entered with the same answers is
counted unchanged, so importing the same file twice changes nothing."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import UploadFile
from openpyxl import Workbook
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Caller
from services.common.db import Database
from services.common.ids import new_ids
from services.common.sheets import (
    CellRequired,
    Column,
    ImportFileUnreadable,
    cell_text,
    header_fields,
    match_headers,
    sheet_rows,
    sniff,
)
from services.exam.access import ExamCandidateNotFound, candidate_for, plan_for
from services.exam.bank.errors import DuplicateInFile, ImportTooLarge
from services.exam.models import ExamAnswer, ExamCandidate, ExamPaper, ExamPlan, ExamSitting
from services.exam.sittings import errors, repository, rules, service
from services.exam.sittings.closing import close
from services.exam.sittings.papers import to_original
from services.exam.sittings.schemas import ImportErrorPublic, PaperAnswerIn, PaperSittingImportReport

MAX_IMPORT_BYTES = 8 * 1024 * 1024
ERRORS_IN_REPORT = 1000
COLUMNS = (
    Column("考核对象编号", "candidate_id", True),
    Column("题号", "question", True),
    Column("答案", "answer", False),
)
_FIELDS = header_fields(COLUMNS, {"考核对象": "candidate_id", "题目编号": "question", "作答": "answer"})
_TRUE = {"正确", "对", "√", "是", "true", "t", "y"}
_FALSE = {"错误", "错", "×", "x", "否", "false", "f", "n"}


def _sitting_row(
    candidate: ExamCandidate, paper: ExamPaper, sitting_id: str, caller: Caller, now: datetime
) -> dict[str, Any]:
    return {
        "id": sitting_id,
        "paper_id": paper.id,
        "candidate_id": candidate.id,
        "plan_id": candidate.plan_id,
        "manager_id": candidate.manager_id,
        "enterprise_id": candidate.enterprise_id,
        "region_code": candidate.region_code,
        "role": candidate.role,
        "kind": candidate.kind,
        "mode": "paper",
        "status": "in_progress",  # closed (scored) by ``service.close`` in the same transaction
        "started_at": now,
        "deadline_at": now,
        "started_by": caller.username,
        "max_score": paper.max_score,
    }


async def _write(
    session: AsyncSession,
    caller: Caller,
    entered: Sequence[tuple[ExamCandidate, ExamPaper, dict[str, list[str]]]],
    now: datetime,
) -> list[str]:
    """The sittings and their answers (one executemany each), then scored and closed together."""
    ids = new_ids(len(entered))
    sittings = [_sitting_row(c, p, i, caller, now) for (c, p, _), i in zip(entered, ids, strict=True)]
    answers = [
        {"sitting_id": i, "question_id": q, "revision": 1, "answer": json.dumps(keys), "saved_at": now}
        for (_, _, given), i in zip(entered, ids, strict=True)
        for q, keys in given.items()
    ]
    if sittings:
        await session.execute(insert(ExamSitting), sittings)
    if answers:
        await session.execute(insert(ExamAnswer), answers)
    await close(session, ids, "examiner", now)
    return ids


async def _open_paper(session: AsyncSession, candidate: ExamCandidate) -> ExamPaper:
    latest = await repository.latest_paper(session, candidate.id)
    if latest is None:
        raise errors.PaperNotDrawn("请先抽取并打印该考核对象的纸质试卷，再录入答卷")
    if latest.sitting_id is not None:
        raise errors.SittingExists(
            f"该考核对象本次考试已有答卷（考试编号 {latest.sitting_id}）", sitting_id=latest.sitting_id
        )
    return latest.paper


async def enter(
    *, db: Database, caller: Caller, candidate_id: str, answers: Sequence[PaperAnswerIn], now: datetime
) -> str:
    """录入纸笔答卷 for one candidate: the answers by 题号 or question id; returns the sitting's id."""
    try:
        async with db.transaction(immediate=True) as session:
            candidate, plan = await candidate_for(session, caller, candidate_id)
            service.require_examiner(caller, plan)
            service.require_open(plan, candidate)
            paper = await _open_paper(session, candidate)
            entries = json.loads(paper.questions)
            by_position = {e["position"]: e for e in entries}
            by_id = {e["question_id"]: e for e in entries}
            given: dict[str, list[str]] = {}
            for index, item in enumerate(answers):
                entry = (
                    by_position.get(item.position)
                    if item.position is not None
                    else by_id.get(item.question_id or "")
                )
                where = f"answers.{index}"
                if entry is None:
                    raise errors.AnswerInvalid(
                        f"试卷中没有题号 {item.position or item.question_id}", field=f"{where}.position"
                    )
                if entry["question_id"] in given:
                    raise errors.AnswerInvalid(f"第 {entry['position']} 题的答案重复录入", field=where)
                if item.answer:
                    given[entry["question_id"]] = service.checked_answer(
                        entry, item.answer, field=f"{where}.answer"
                    )
            (sitting_id,) = await _write(session, caller, [(candidate, paper, given)], now)
    except IntegrityError:
        async with db.session() as session:
            candidate, _ = await candidate_for(session, caller, candidate_id)
            await _open_paper(session, candidate)  # raises SittingExists for the sitting entered meanwhile
        raise
    return sitting_id


# ------------------------------------------------------------------------------------------------- import


@dataclass
class _Row:
    number: int
    candidate_id: str
    question: str
    answer: str | None


@dataclass
class _Report:
    rows: int = 0
    errors: list[ImportErrorPublic] = field(default_factory=list)

    def add(self, row: int, column: str, code: str, message: str, candidate_id: str | None) -> None:
        self.errors.append(
            ImportErrorPublic(row=row, column=column, code=code, message=message, candidate_id=candidate_id)
        )


def parse_answer(question_type: str, text: str) -> list[str] | None:
    """A cell as shown labels (``ACD`` → A, C, D) or true/false; None when it cannot be read."""
    if question_type == "true_false":
        lowered = text.strip().lower()
        return ["true"] if lowered in _TRUE else ["false"] if lowered in _FALSE else None
    letters = re.sub(r"[、;；,，\s]", "", text).upper()
    return list(letters) if letters.isascii() and letters.isalpha() else None


def _read(upload: UploadFile) -> tuple[list[_Row], _Report]:
    size = upload.size if upload.size is not None else upload.file.seek(0, os.SEEK_END)
    upload.file.seek(0)
    if size > MAX_IMPORT_BYTES:
        raise ImportTooLarge(f"导入文件不能超过 {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    rows = iter(sheet_rows(upload.file, sniff(upload)))
    header = next(rows, None)
    if header is None:
        raise ImportFileUnreadable("导入文件是空的：第1行须为表头，可下载导入模板")
    columns = match_headers(header, COLUMNS, _FIELDS, hint="可下载导入模板")
    report, found = _Report(), []
    for number, raw in enumerate(rows, start=2):
        cells = {name: cell_text(raw[i]) if i < len(raw) else None for name, i in columns.items()}
        if not any(cells.values()):
            continue
        report.rows += 1
        missing = [c.header for c in COLUMNS if c.required and not cells.get(c.field)]
        if missing:
            report.add(
                number, missing[0], CellRequired.code, f"{missing[0]}不能为空", cells.get("candidate_id")
            )
            continue
        found.append(_Row(number, cells["candidate_id"] or "", cells["question"] or "", cells.get("answer")))
    return found, report


async def import_sheet(
    *, db: Database, caller: Caller, plan_id: str, upload: UploadFile, now: datetime
) -> PaperSittingImportReport:
    rows, report = await asyncio.to_thread(_read, upload)
    bad: set[str] = {e.candidate_id for e in report.errors if e.candidate_id}
    unchanged = created = 0
    try:
        async with db.transaction(immediate=True) as session:
            plan = await plan_for(session, caller, plan_id)
            service.require_examiner(caller, plan)
            if plan.status not in service.OPEN_STATUSES:
                raise errors.PlanNotOpen(f"考核计划《{plan.title}》尚未抽取发布，不能录入答卷")
            ids = sorted({r.candidate_id for r in rows})
            candidates = {
                c.id: c
                for c in await session.scalars(
                    select(ExamCandidate).where(ExamCandidate.plan_id == plan.id, ExamCandidate.id.in_(ids))  # type: ignore[attr-defined]
                )
            }
            latest = await _latest_papers(session, list(candidates))
            stored = await _stored_answers(session, [s for _, s, _ in latest.values() if s is not None])
            grouped: dict[str, list[_Row]] = {}
            for r in rows:
                grouped.setdefault(r.candidate_id, []).append(r)
            entered: list[tuple[ExamCandidate, ExamPaper, dict[str, list[str]]]] = []
            for candidate_id, own in grouped.items():
                given = _check_candidate(
                    candidate_id, own, candidates.get(candidate_id), latest.get(candidate_id), report
                )
                if given is None or candidate_id in bad:
                    bad.add(candidate_id)
                    continue
                paper, sitting_id, mode = latest[candidate_id]
                if sitting_id is not None:
                    if mode == "paper" and stored.get(sitting_id, {}) == given:
                        unchanged += 1
                    else:
                        report.add(
                            own[0].number,
                            "考核对象编号",
                            errors.SittingExists.code,
                            f"考核对象 {candidate_id} 本次考试已有答卷，不能再次录入",
                            candidate_id,
                        )
                        bad.add(candidate_id)
                    continue
                entered.append((candidates[candidate_id], paper, given))
            if entered:
                created = len(await _write(session, caller, entered, now))
    except IntegrityError as exc:  # entered meanwhile by another request
        raise errors.SittingExists("导入期间有答卷被同时录入，请重新导入（已录入的不会重复）") from exc
    report.errors.sort(key=lambda e: (e.row, e.column))
    return PaperSittingImportReport(
        rows=report.rows,
        created=created,
        unchanged=unchanged,
        rejected=len({e.row for e in report.errors}),
        rejected_candidates=sorted(bad),
        errors=report.errors[:ERRORS_IN_REPORT],
    )


def _check_candidate(
    candidate_id: str,
    own: Sequence[_Row],
    candidate: ExamCandidate | None,
    latest: tuple[ExamPaper, str | None, str | None] | None,
    report: _Report,
) -> dict[str, list[str]] | None:
    """The candidate's answers as version keys, or None after reporting why they cannot be entered."""
    if candidate is None:
        for r in own:
            report.add(
                r.number,
                "考核对象编号",
                ExamCandidateNotFound.code,
                f"考核对象 {candidate_id} 不在本考核计划中",
                candidate_id,
            )
        return None
    problem = None
    if candidate.status != "sampled":
        problem = (errors.PlanNotOpen.code, "该人员已不在本计划的考核名单中")
    elif latest is None:
        problem = (errors.PaperNotDrawn.code, "尚未为该考核对象抽取纸质试卷")
    if problem is not None:
        for r in own:
            report.add(r.number, "考核对象编号", problem[0], problem[1], candidate_id)
        return None
    entries = json.loads(latest[0].questions)  # type: ignore[index]
    by_position = {str(e["position"]): e for e in entries}
    by_id = {e["question_id"]: e for e in entries}
    given: dict[str, list[str]] = {}
    first_row: dict[str, int] = {}
    ok = True
    for r in own:
        entry = by_position.get(r.question) or by_id.get(r.question)
        if entry is None:
            report.add(
                r.number,
                "题号",
                errors.PaperQuestionNotFound.code,
                f"试卷中没有题号“{r.question}”",
                candidate_id,
            )
            ok = False
            continue
        if entry["question_id"] in first_row:
            report.add(
                r.number,
                "题号",
                DuplicateInFile.code,
                f"第 {entry['position']} 题与第 {first_row[entry['question_id']]} 行重复",
                candidate_id,
            )
            ok = False
            continue
        first_row[entry["question_id"]] = r.number
        if not r.answer:
            continue
        labels = parse_answer(entry["type"], r.answer)
        problem_text = (
            "答案须为选项字母（如 B 或 ACD），判断题为“正确”或“错误”"
            if labels is None
            else rules.check_answer(entry["type"], len(entry["options"]), labels)
        )
        if problem_text is not None or labels is None:
            report.add(
                r.number,
                "答案",
                errors.AnswerInvalid.code,
                f"第 {entry['position']} 题：{problem_text}",
                candidate_id,
            )
            ok = False
            continue
        if labels:
            given[entry["question_id"]] = to_original(entry["options"], entry["type"], labels)
    return given if ok else None


async def _latest_papers(
    session: AsyncSession, candidate_ids: Sequence[str]
) -> dict[str, tuple[ExamPaper, str | None, str | None]]:
    """Each candidate's paper of the highest attempt, with its sitting's id and mode (one query)."""
    latest: dict[str, tuple[ExamPaper, str | None, str | None]] = {}
    if not candidate_ids:
        return latest
    rows = await session.execute(
        select(ExamPaper, ExamSitting.id, ExamSitting.mode)
        .outerjoin(ExamSitting, ExamSitting.paper_id == ExamPaper.id)
        .where(ExamPaper.candidate_id.in_(candidate_ids))  # type: ignore[attr-defined]
    )
    for paper, sitting_id, mode in rows:
        if paper.candidate_id not in latest or latest[paper.candidate_id][0].attempt < paper.attempt:
            latest[paper.candidate_id] = (paper, sitting_id, mode)
    return latest


async def _stored_answers(
    session: AsyncSession, sitting_ids: Iterable[str]
) -> dict[str, dict[str, list[str]]]:
    stored: dict[str, dict[str, list[str]]] = {}
    for a in await repository.answers_of(session, list(sitting_ids)):
        stored.setdefault(a.sitting_id, {})[a.question_id] = json.loads(a.answer)
    return stored


async def template(*, db: Database, caller: Caller, plan_id: str) -> bytes:
    """导入模板: the header, and a row per question of every paper drawn and not yet entered."""
    async with db.session() as session:
        plan: ExamPlan = await plan_for(session, caller, plan_id)
        service.require_examiner(caller, plan)
        rows = await session.execute(
            select(ExamPaper.candidate_id, ExamPaper.attempt, ExamPaper.questions, ExamSitting.id)
            .outerjoin(ExamSitting, ExamSitting.paper_id == ExamPaper.id)
            .where(ExamPaper.plan_id == plan.id)
            .order_by(ExamPaper.candidate_id, ExamPaper.attempt)
        )
        latest: dict[str, Any] = {}
        for row in rows:
            latest[row.candidate_id] = row
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "纸笔考核答卷导入"
    sheet.append([c.header for c in COLUMNS])
    for candidate_id, row in latest.items():
        if row.id is None:
            for entry in json.loads(row.questions):
                sheet.append([candidate_id, entry["position"], ""])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
