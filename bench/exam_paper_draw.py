"""Drawing a 100-question paper from a 10,000-question bank (target ≤ 20 ms), in process.

Creates an exam database of its own (a SQLite file in a temporary directory, or a fresh PostgreSQL database
when QSR_BENCH_DATABASE_URL names a server), migrates it, bulk-inserts ``--questions`` active questions of
the provincial bank spread over the three categories and types (a fifth of them for a product field), and
a published plan whose blueprint asks for 100 questions. Then it times, ``--runs`` times each:
  (a) the pure draw (``papers.choose`` and ``assemble``) over the eligible bank already read: ranking every eligible
      question of each blueprint line by its HMAC and shuffling the chosen questions' options;
  (b) the whole draw as a sitting's start does it (``service.draw_paper``): the one query of the eligible
      bank, the person's earlier papers, the unit's fields, the chosen versions' texts, the draw and the
      paper's insert, in one transaction.
No NATS is involved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from bench.common import command_line, fresh_database_url, machine, percentile, record
from services.common.db import Database, migrate, utcnow
from services.common.draw import new_seed
from services.common.ids import new_id
from services.exam.models import ExamCandidate, ExamPlan, ExamUnit, Question, QuestionVersion
from services.exam.sittings import papers, repository, service

CATEGORIES = ("law_regulation", "standard", "professional_knowledge")
TYPES = ("single_choice", "multiple_choice", "true_false")
BLUEPRINT = [
    {"category": c, "type": t, "count": n, "points": 1}
    for (c, t), n in zip(
        [(c, t) for c in CATEGORIES for t in TYPES], (15, 10, 10, 10, 10, 10, 15, 10, 10), strict=True
    )
]


def question_rows(count: int) -> tuple[list[dict], list[dict]]:
    now = utcnow()
    questions, versions = [], []
    for serial in range(count):
        category, kind = CATEGORIES[serial % 3], TYPES[(serial // 3) % 3]
        options = [] if kind == "true_false" else [{"key": k, "text": f"选项{k}{serial}"} for k in "ABCD"]
        content = {
            "category": category,
            "type": kind,
            "stem": f"基准题目 {serial}：“两个规定”要求单位落实哪些质量安全责任？" * 2,
            "options": json.dumps(options, ensure_ascii=False),
            "answer": json.dumps(["A"] if options else ["true"]),
            "product_categories": json.dumps(["gas_stove"] if serial % 5 == 0 else []),
            "content_sha256": f"{serial:064d}",
            "for_director": True,
            "for_officer": True,
            "for_production": True,
            "for_sales": True,
            "difficulty": 3,
            "source": "总局令第75号",
            "explanation": None,
        }
        qid = new_id()
        questions.append(
            {
                "id": qid,
                "owner_region": "140000",
                "code": f"B-{serial}",
                "version": 1,
                "status": "active",
                "created_by": "bench",
                "created_at": now,
                "updated_by": "bench",
                "updated_at": now,
                **content,
            }
        )
        versions.append(
            {"question_id": qid, "version": 1, "created_by": "bench", "created_at": now, **content}
        )
    return questions, versions


async def main(count: int, runs: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="qsr-bench-exam-"))
    url = fresh_database_url("exam", directory)
    await migrate("exam", url)
    db = Database(url)
    questions, versions = question_rows(count)
    now = utcnow()
    plan = ExamPlan(
        id=new_id(),
        title="基准考核",
        organiser_region="141121",
        mode="online",
        period_start=now.date(),
        period_end=now.date(),
        roles='["quality_director"]',
        kinds='["production"]',
        sample_count=runs,
        exclude_examined_within_months=12,
        pack="bench",
        blueprint=json.dumps(BLUEPRINT),
        duration_minutes=60,
        pass_mark=60,
        max_score=100,
        multiple_choice_scoring="all_or_nothing",
        partial_share=0.5,
        status="published",
        created_by="bench",
        created_at=now,
    )
    unit = ExamUnit(
        id=new_id(),
        uscc="91141121MA0000001X",
        name="基准单位",
        kind="production",
        region_code="141121",
        product_categories='["gas_stove"]',
    )
    candidates = [
        ExamCandidate(
            id=new_id(),
            plan_id=plan.id,
            manager_id=new_id(),
            enterprise_id=unit.id,
            uscc=unit.uscc,
            role="quality_director",
            kind="production",
            region_code="141121",
            name="张三",
            draw_round=1,
            rank=i,
        )
        for i in range(runs)
    ]
    async with db.transaction() as session:
        for part in repository.chunks(questions, 2000):
            await session.execute(insert(Question), list(part))
        for part in repository.chunks(versions, 2000):
            await session.execute(insert(QuestionVersion), list(part))
        session.add_all([plan, unit, *candidates])
    async with db.session() as session:
        bank = await repository.eligible_bank(
            session,
            organiser_region="141121",
            role="quality_director",
            kind="production",
            groups={(line["category"], line["type"]) for line in BLUEPRINT},
        )
    pure: list[float] = []
    for _ in range(runs):
        seed = new_seed()
        started = time.perf_counter()
        chosen = papers.choose(seed, BLUEPRINT, bank, unit_categories=["gas_stove"])
        drawn = papers.assemble(seed, chosen, {c.question.question_id: "ABCD" for c in chosen})
        pure.append((time.perf_counter() - started) * 1000)
        assert len(drawn) == 100
    whole: list[float] = []
    for candidate in candidates:
        started = time.perf_counter()
        async with db.transaction() as session:
            await service.draw_paper(session, candidate, plan, 1, utcnow())
        whole.append((time.perf_counter() - started) * 1000)
    await db.dispose()
    target = "<= 20 ms for 100 questions of a 10,000-question bank"
    for name, values in (("pure draw", pure), ("draw with its queries and insert", whole)):
        median, p95 = statistics.median(values), percentile(values, 95)
        print(f"{name}: median {median:.1f} ms, p95 {p95:.1f} ms over {runs} papers ({len(bank)} eligible)")
        record(
            f"exam: paper of 100 from {count:,} questions, {name}",
            median,
            "ms (median)",
            target=target,
            note=f"p95 {p95:.1f} ms; {machine()}",
        )
    print(command_line())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--questions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.questions, args.runs))
