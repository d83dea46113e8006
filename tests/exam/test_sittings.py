"""Sittings through the exam service (its migrations, its real NATS, its deadline job): start, the paper as the
person sees it, autosave, submission and scoring, the deadline, paper sittings and their import, retakes, and
who may do what. One service for the module; each test has a plan of its own."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from services.common.db import today_cn, utcnow
from services.common.events import EXAM_SITTING_SUBMITTED
from services.common.messaging import stream_name
from services.common.settings import Settings
from services.exam.app import create_app
from services.exam.models import ExamAnswer, ExamResult, ExamSitting
from services.exam.sittings import service
from services.exam.sittings.errors import SittingClosed
from tests.exam.factories import csv_file, published_plan, sitting_bank_rows
from tests.harness import (
    JIAOCHENG,
    SX_PROVINCE,
    WENSHUI,
    NatsServer,
    database_template,
    drop_databases,
    enterprise_caller,
    eventually,
    identity,
    make_settings,
    make_uscc,
    selects,
    serving,
    statements,
    stream_events,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
WENSHUI_REGION = "141121"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    tmp = tmp_path_factory.mktemp("sittings")
    server = NatsServer(tmp / "jetstream")
    server.start()
    url = database_template(tmp)
    try:
        yield make_settings(server, url, tmp, exam_deadline_check_interval_seconds=0.2)
    finally:
        server.stop()
        asyncio.run(drop_databases(url))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def served(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with serving(app) as client:
        rows = sitting_bank_rows("SIT")
        report = await client.post(
            "/questions/import",
            files={"file": ("bank.csv", csv_file(rows), "text/csv")},
            headers=identity(settings, SX_PROVINCE),
        )
        assert report.status_code == 200 and report.json()["created"] == len(rows), report.text
        yield app, client


@pytest.fixture
def app(served: tuple[FastAPI, httpx.AsyncClient]) -> FastAPI:
    return served[0]


@pytest.fixture
def exam(served: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return served[1]


SERIAL = iter(range(100, 999))


def unit() -> tuple[str, dict[str, str]]:
    """A fresh unit of 文水县: its USCC and its account's identity header maker."""
    return make_uscc(next(SERIAL)), {}


def right(question: dict[str, Any]) -> list[str]:
    """The labels of the correct options as shown (the bank's correct options say 正确)."""
    if question["type"] == "true_false":
        return ["true"]
    return [o["label"] for o in question["options"] if o["text"].startswith("正确")]


def half_right(question: dict[str, Any]) -> list[str]:
    return right(question)[:1]


async def start(exam: httpx.AsyncClient, settings: Settings, candidate: str, caller: Any) -> dict[str, Any]:
    started = await exam.post(f"/candidates/{candidate}/sittings", headers=identity(settings, caller))
    assert started.status_code == 201, started.text
    return started.json()


async def count(app: FastAPI, model: Any, **where: Any) -> int:
    async with app.state.db.session() as session:
        stmt = select(func.count()).select_from(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return int(await session.scalar(stmt) or 0)


# ------------------------------------------------------------------------------------------ online sittings


async def test_a_sitting_starts_once_autosaves_idempotently_and_is_scored_on_submission(
    app: FastAPI, exam: httpx.AsyncClient, settings: Settings
) -> None:
    uscc, _ = unit()
    person = enterprise_caller(uscc)
    plan_id, (candidate,) = await published_plan(app, [(uscc, WENSHUI_REGION)])
    sitting = await start(exam, settings, candidate, person)
    assert sitting["status"] == "in_progress" and sitting["mode"] == "online" and sitting["attempt"] == 1
    assert 59 * 60 <= sitting["remaining_seconds"] <= 60 * 60
    questions = sitting["questions"]
    assert [q["type"] for q in questions] == ["single_choice"] * 2 + ["multiple_choice"] * 2 + [
        "true_false"
    ] * 2
    assert all(q["answer"] is None and "key" not in q and "explanation" not in q for q in questions)
    assert '"answer": ["A"]' not in json.dumps(sitting)

    again = await exam.post(f"/candidates/{candidate}/sittings", headers=identity(settings, person))
    assert again.status_code == 409 and again.json()["code"] == "EXAM_SITTING_EXISTS"
    assert again.json()["sitting_id"] == sitting["id"]

    url = f"/sittings/{sitting['id']}/answers"
    first = questions[0]
    wrong = [o["label"] for o in first["options"] if not o["text"].startswith("正确")][:1]
    saved = await exam.put(
        f"{url}/{first['question_id']}",
        json={"revision": 1, "answer": wrong},
        headers=identity(settings, person),
    )
    assert saved.status_code == 200 and saved.json()["applied"] is True, saved.text
    # The same save again (a retry), and a late one with an old revision: counted once, nothing changes.
    for body in ({"revision": 1, "answer": wrong}, {"revision": 1, "answer": right(first)}):
        repeat = await exam.put(
            f"{url}/{first['question_id']}", json=body, headers=identity(settings, person)
        )
        assert repeat.status_code == 200 and repeat.json()["applied"] is False
        assert (repeat.json()["revision"], repeat.json()["answer"]) == (1, wrong)
    # A phone back online sends everything, the first question twice (its newer revision wins).
    batch = [{"question_id": q["question_id"], "revision": 1, "answer": right(q)} for q in questions[1:]]
    batch += [
        {"question_id": first["question_id"], "revision": 2, "answer": right(first)},
        {"question_id": first["question_id"], "revision": 3, "answer": right(first)},
    ]
    saved_all = await exam.put(url, json=batch, headers=identity(settings, person))
    assert saved_all.status_code == 200, saved_all.text
    assert all(item["applied"] for item in saved_all.json()["items"])
    assert await count(app, ExamAnswer, sitting_id=sitting["id"]) == len(questions)
    bad = await exam.put(
        f"{url}/{questions[0]['question_id']}",
        json={"revision": 9, "answer": ["A", "B"]},
        headers=identity(settings, person),
    )
    assert (
        bad.status_code == 422
        and bad.json()["code"] == "EXAM_ANSWER_INVALID"
        and "单选题" in bad.json()["detail"]
    )
    unknown = await exam.put(
        f"{url}/no-such-question", json={"revision": 1, "answer": []}, headers=identity(settings, person)
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "EXAM_PAPER_QUESTION_NOT_FOUND"

    with statements(app) as seen:
        shown = await exam.get(f"/sittings/{sitting['id']}", headers=identity(settings, person))
    assert shown.status_code == 200 and len(selects(seen)) <= 2, seen
    assert [q["answer"] for q in shown.json()["questions"]] == [right(q) for q in questions]
    assert shown.json()["questions"][0]["revision"] == 3 and shown.json()["score"] is None

    submitted = await exam.post(f"/sittings/{sitting['id']}/submit", headers=identity(settings, person))
    assert submitted.status_code == 200, submitted.text
    body = submitted.json()
    assert (body["status"], body["submission"], body["score"], body["passed"]) == (
        "submitted",
        "person",
        100,
        True,
    )
    assert (await exam.post(f"/sittings/{sitting['id']}/submit", headers=identity(settings, person))).json()[
        "score"
    ] == 100
    late = await exam.put(
        f"{url}/{first['question_id']}",
        json={"revision": 4, "answer": []},
        headers=identity(settings, person),
    )
    assert (
        late.status_code == 409
        and late.json()["code"] == "EXAM_SITTING_CLOSED"
        and "已于" in late.json()["detail"]
    )
    async with app.state.db.session() as session:
        result = (
            await session.scalars(select(ExamResult).where(ExamResult.sitting_id == sitting["id"]))
        ).one()
    assert (result.status, result.result, result.score, result.plan_id) == (
        "pending",
        "qualified",
        100,
        plan_id,
    )

    async def published() -> dict[str, Any]:
        events = await stream_events(settings, EXAM_SITTING_SUBMITTED.subject, stream=stream_name("exam"))
        found = [e for e in events if e["data"]["sitting_id"] == sitting["id"]]
        assert len(found) == 1
        return found[0]

    event = await eventually(published)
    assert (event["data"]["submission"], event["data"]["score"], event["region"]) == (
        "person",
        100,
        WENSHUI_REGION,
    )


async def test_multiple_choice_scores_all_or_nothing_or_partially_by_the_plan(
    app: FastAPI, exam: httpx.AsyncClient, settings: Settings
) -> None:
    scores = {}
    for rule in ("all_or_nothing", "partial"):
        uscc, _ = unit()
        _, (candidate,) = await published_plan(app, [(uscc, WENSHUI_REGION)], scoring=rule, partial_share=0.5)
        sitting = await start(exam, settings, candidate, WENSHUI)  # an examiner on site
        batch = [
            {
                "question_id": q["question_id"],
                "revision": 1,
                "answer": half_right(q) if q["type"] == "multiple_choice" else right(q),
            }
            for q in sitting["questions"]
        ]
        assert (
            await exam.put(
                f"/sittings/{sitting['id']}/answers", json=batch, headers=identity(settings, WENSHUI)
            )
        ).status_code == 200
        done = await exam.post(f"/sittings/{sitting['id']}/submit", headers=identity(settings, WENSHUI))
        scores[rule] = (done.json()["score"], done.json()["passed"])
    # 2 single × 10 + 2 true/false × 20 = 60; the two multiple choice (20 each) half right.
    assert scores == {"all_or_nothing": (60, True), "partial": (80, True)}


async def test_a_sitting_is_closed_at_its_deadline_with_the_answers_saved_before_it(
    app: FastAPI, exam: httpx.AsyncClient, settings: Settings
) -> None:
    uscc, _ = unit()
    person = enterprise_caller(uscc)
    _, (candidate,) = await published_plan(app, [(uscc, WENSHUI_REGION)], duration_minutes=1)
    sitting = await start(exam, settings, candidate, person)
    questions = sitting["questions"]
    url = f"/sittings/{sitting['id']}/answers"
    before = [{"question_id": q["question_id"], "revision": 1, "answer": right(q)} for q in questions[:2]]
    assert (await exam.put(url, json=before, headers=identity(settings, person))).status_code == 200
    # The server's clock moves past the deadline (a minute from the start) instead of the test waiting.
    runs = app.state.deadline_checks
    app.state.exam_clock = lambda: utcnow() + timedelta(minutes=2)
    try:

        async def closed_by_the_job() -> ExamSitting:
            assert app.state.deadline_checks >= runs + 2
            async with app.state.db.session() as session:
                row = await session.get(ExamSitting, sitting["id"])
            assert row is not None and row.status == "submitted"
            return row

        row = await eventually(closed_by_the_job)
        assert row.submission == "deadline" and row.score == 20  # the two single-choice answers only
        after = await exam.put(
            f"{url}/{questions[2]['question_id']}",
            json={"revision": 1, "answer": right(questions[2])},
            headers=identity(settings, person),
        )
        assert after.status_code == 409 and after.json()["code"] == "EXAM_SITTING_CLOSED"
        assert "截止时间" in after.json()["detail"] and after.json()["deadline_at"]
        shown = (await exam.get(f"/sittings/{sitting['id']}", headers=identity(settings, person))).json()
        assert [q["answer"] is not None for q in shown["questions"]] == [
            True,
            True,
            False,
            False,
            False,
            False,
        ]
        assert shown["remaining_seconds"] == 0 and shown["submitted_at"] == shown["deadline_at"]
    finally:
        del app.state.exam_clock


async def test_a_sitting_read_or_written_after_its_deadline_is_closed_first(
    app: FastAPI, exam: httpx.AsyncClient, settings: Settings
) -> None:
    """The service is called with a ``now`` past the deadline while the deadline job keeps the real time (the
    deadline is a minute away for it), so what closes these sittings is the read and the write themselves."""
    sittings = []
    for _ in range(2):
        uscc, _ = unit()
        person = enterprise_caller(uscc)
        _, (candidate,) = await published_plan(app, [(uscc, WENSHUI_REGION)], duration_minutes=1)
        sitting = await start(exam, settings, candidate, person)
        tf = sitting["questions"][4]["question_id"]
        await exam.put(
            f"/sittings/{sitting['id']}/answers/{tf}",
            json={"revision": 1, "answer": ["true"]},
            headers=identity(settings, person),
        )
        sittings.append((sitting, person, tf))
    later = utcnow() + timedelta(seconds=61)
    (read, reader, _), (written, writer, tf) = sittings
    shown = await service.read(db=app.state.db, caller=reader, sitting_id=read["id"], now=later)
    assert (shown.status, shown.submission, shown.score) == ("submitted", "deadline", 20)
    with pytest.raises(SittingClosed):
        await service.save_answers(
            db=app.state.db, caller=writer, sitting_id=written["id"], items=[(tf, 2, ["false"])], now=later
        )
    async with app.state.db.session() as session:
        row = await session.get(ExamSitting, written["id"])
        kept = await session.get(ExamAnswer, (written["id"], tf))
    assert row is not None and (row.status, row.submission, row.score) == ("submitted", "deadline", 20)
    assert kept is not None and (kept.revision, kept.answer, kept.points) == (1, '["true"]', 20)


async def test_a_sitting_starts_only_in_the_window_of_a_published_plan(
    app: FastAPI, exam: httpx.AsyncClient, settings: Settings
) -> None:
    today = today_cn()
    cases = {
        "EXAM_OUTSIDE_WINDOW": {"period": (today - timedelta(days=10), today - timedelta(days=1))},
        "EXAM_PLAN_NOT_OPEN": {"status": "draft"},
        "EXAM_PLAN_MODE_MISMATCH": {"mode": "paper"},
    }
    for code, fields in cases.items():
        uscc, _ = unit()
        _, (candidate,) = await published_plan(app, [(uscc, WENSHUI_REGION)], **fields)
        refused = await exam.post(
            f"/candidates/{candidate}/sittings", headers=identity(settings, enterprise_caller(uscc))
        )
        assert refused.status_code == 409 and refused.json()["code"] == code, refused.text
    early = await published_plan(
        app,
        [(make_uscc(next(SERIAL)), WENSHUI_REGION)],
        period=(today + timedelta(days=1), today + timedelta(days=2)),
    )
    refused = await exam.post(f"/candidates/{early[1][0]}/sittings", headers=identity(settings, WENSHUI))
    assert refused.status_code == 409 and "北京时间" in refused.json()["detail"]


async def test_the_neighbouring_county_and_other_units_cannot_start_see_or_answer(
    app: FastAPI, exam: httpx.AsyncClient, settings: Settings
) -> None:
    uscc, _ = unit()
    person, stranger = enterprise_caller(uscc), enterprise_caller(make_uscc(next(SERIAL)))
    _, (candidate,) = await published_plan(app, [(uscc, WENSHUI_REGION)])
    for caller in (JIAOCHENG, stranger):
        refused = await exam.post(f"/candidates/{candidate}/sittings", headers=identity(settings, caller))
        assert refused.status_code == 404 and refused.json()["code"] == "EXAM_CANDIDATE_NOT_FOUND"
    sitting = await start(exam, settings, candidate, person)
    question = sitting["questions"][0]["question_id"]
    for caller in (JIAOCHENG, stranger):
        headers = identity(settings, caller)
        attempts = [
            await exam.get(f"/sittings/{sitting['id']}", headers=headers),
            await exam.put(
                f"/sittings/{sitting['id']}/answers/{question}",
                json={"revision": 5, "answer": []},
                headers=headers,
            ),
            await exam.put(
                f"/sittings/{sitting['id']}/answers",
                json=[{"question_id": question, "revision": 5, "answer": []}],
                headers=headers,
            ),
            await exam.post(f"/sittings/{sitting['id']}/submit", headers=headers),
        ]
        assert [(r.status_code, r.json()["code"]) for r in attempts] == [(404, "EXAM_SITTING_NOT_FOUND")] * 4
        paper = await exam.post(f"/candidates/{candidate}/paper", headers=headers)
        assert paper.status_code == 404
    assert await count(app, ExamAnswer, sitting_id=sitting["id"]) == 0
    still = await exam.get(
        f"/sittings/{sitting['id']}", headers=identity(settings, SX_PROVINCE)
    )  # the province sees it
    assert still.status_code == 200 and still.json()["status"] == "in_progress"


# ------------------------------------------------------------------------------------ paper sittings, retakes


async def test_a_paper_sitting_is_entered_by_the_examiner_from_the_printed_paper(
    app: FastAPI, exam: httpx.AsyncClient, settings: Settings
) -> None:
    uscc, _ = unit()
    _, (candidate,) = await published_plan(app, [(uscc, WENSHUI_REGION)], mode="paper")
    refused = await exam.post(
        f"/candidates/{candidate}/paper", headers=identity(settings, enterprise_caller(uscc))
    )
    assert refused.status_code == 403 and refused.json()["code"] == "EXAM_EXAMINER_ONLY"
    paper = (await exam.post(f"/candidates/{candidate}/paper", headers=identity(settings, WENSHUI))).json()
    assert (
        await exam.post(f"/candidates/{candidate}/paper", headers=identity(settings, WENSHUI))
    ).json() == paper
    answers = [{"position": q["position"], "answer": right(q)} for q in paper["questions"][:4]]
    bad = await exam.post(
        f"/candidates/{candidate}/paper-sittings",
        json={"answers": [*answers, {"position": 99, "answer": ["A"]}]},
        headers=identity(settings, WENSHUI),
    )
    assert bad.status_code == 422 and bad.json()["code"] == "EXAM_ANSWER_INVALID"
    entered = await exam.post(
        f"/candidates/{candidate}/paper-sittings",
        json={"answers": answers},
        headers=identity(settings, WENSHUI),
    )
    assert entered.status_code == 201, entered.text
    body = entered.json()
    assert (body["mode"], body["submission"], body["score"], body["passed"]) == (
        "paper",
        "examiner",
        60,
        True,
    )
    twice = await exam.post(
        f"/candidates/{candidate}/paper-sittings",
        json={"answers": answers},
        headers=identity(settings, WENSHUI),
    )
    assert twice.status_code == 409 and twice.json()["code"] == "EXAM_SITTING_EXISTS"


def sheet(rows: list[list[Any]]) -> bytes:
    workbook = Workbook()
    workbook.active.append(["考核对象编号", "题号", "答案"])
    for values in rows:
        workbook.active.append(values)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


async def test_paper_sittings_are_imported_with_bad_rows_reported_and_a_reimport_changes_nothing(
    app: FastAPI, exam: httpx.AsyncClient, settings: Settings
) -> None:
    people = [(make_uscc(next(SERIAL)), WENSHUI_REGION) for _ in range(3)]
    plan_id, (good, faulty, undrawn) = await published_plan(app, people, mode="paper")
    papers = {
        c: (await exam.post(f"/candidates/{c}/paper", headers=identity(settings, WENSHUI))).json()
        for c in (good, faulty)
    }
    template = await exam.get(
        f"/plans/{plan_id}/paper-sittings/import-template.xlsx", headers=identity(settings, WENSHUI)
    )
    filled = list(load_workbook(io.BytesIO(template.content)).active.iter_rows(values_only=True))
    assert filled[0] == ("考核对象编号", "题号", "答案") and len(filled) == 1 + 2 * 6

    def letters(question: dict[str, Any]) -> str:
        return "正确" if question["type"] == "true_false" else "、".join(right(question))

    rows = [[good, q["position"], letters(q)] for q in papers[good]["questions"]]
    rows += [[faulty, 1, "Z"], [faulty, 2, letters(papers[faulty]["questions"][1])], [faulty, 2, "A"]]
    rows += [[undrawn, 1, "A"], ["no-such-candidate", 1, "A"], [None, 1, "A"]]
    content = sheet(rows)
    url = f"/plans/{plan_id}/paper-sittings/import"
    files = {
        "file": ("答卷.xlsx", content, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    }
    report = await exam.post(url, files=files, headers=identity(settings, WENSHUI))
    assert report.status_code == 200, report.text
    body = report.json()
    assert (body["rows"], body["created"], body["unchanged"]) == (len(rows), 1, 0)
    by_row = {(e["row"], e["code"]) for e in body["errors"]}
    assert by_row == {
        (8, "EXAM_ANSWER_INVALID"),
        (10, "IMPORT_DUPLICATE_IN_FILE"),
        (11, "EXAM_PAPER_NOT_DRAWN"),
        (12, "EXAM_CANDIDATE_NOT_FOUND"),
        (13, "IMPORT_CELL_REQUIRED"),
    }
    assert all(e["message"] and e["message"].isascii() is False for e in body["errors"])
    assert set(body["rejected_candidates"]) == {faulty, undrawn, "no-such-candidate"}
    assert await count(app, ExamSitting, plan_id=plan_id) == 1
    async with app.state.db.session() as session:
        entered = (await session.scalars(select(ExamSitting).where(ExamSitting.candidate_id == good))).one()
    assert (entered.submission, entered.score, entered.passed) == ("examiner", 100, True)

    again = (await exam.post(url, files=files, headers=identity(settings, WENSHUI))).json()
    assert (again["created"], again["unchanged"]) == (0, 1)
    assert (
        await count(app, ExamSitting, plan_id=plan_id) == 1
        and await count(app, ExamResult, plan_id=plan_id) == 1
    )
    other = await exam.post(url, files=files, headers=identity(settings, JIAOCHENG))
    assert other.status_code == 404 and other.json()["code"] == "EXAM_PLAN_NOT_FOUND"


async def test_a_failed_person_retakes_with_a_paper_repeating_the_fewest_questions(
    app: FastAPI, exam: httpx.AsyncClient, settings: Settings
) -> None:
    uscc, _ = unit()
    person = enterprise_caller(uscc)
    _, (candidate,) = await published_plan(app, [(uscc, WENSHUI_REGION)])
    early = await exam.post(f"/candidates/{candidate}/retake", headers=identity(settings, WENSHUI))
    assert early.status_code == 409 and early.json()["code"] == "EXAM_RETAKE_NOT_ALLOWED"
    first = await start(exam, settings, candidate, person)
    failed = (await exam.post(f"/sittings/{first['id']}/submit", headers=identity(settings, person))).json()
    assert (failed["score"], failed["passed"]) == (0, False)
    by_unit = await exam.post(f"/candidates/{candidate}/retake", headers=identity(settings, person))
    assert by_unit.status_code == 403 and by_unit.json()["code"] == "EXAM_ORGANISER_ONLY"
    neighbour = await exam.post(f"/candidates/{candidate}/retake", headers=identity(settings, JIAOCHENG))
    assert neighbour.status_code == 404
    allowed = await exam.post(f"/candidates/{candidate}/retake", headers=identity(settings, WENSHUI))
    assert allowed.status_code == 201, allowed.text
    # The bank has 4 single choice, 3 multiple choice and 4 true/false for 2 of each: only one of the
    # multiple-choice questions has to come again.
    assert (allowed.json()["attempt"], allowed.json()["repeated_questions"]) == (2, 1)
    second = await start(exam, settings, candidate, person)
    assert second["attempt"] == 2 and second["id"] != first["id"]
    repeated = {q["question_id"] for q in first["questions"]} & {
        q["question_id"] for q in second["questions"]
    }
    assert len(repeated) == 1
    assert next(q for q in second["questions"] if q["question_id"] in repeated)["type"] == "multiple_choice"
    third = await exam.post(f"/candidates/{candidate}/sittings", headers=identity(settings, person))
    assert third.status_code == 409 and third.json()["sitting_id"] == second["id"]
