"""Test data of the question bank: API bodies and import sheets."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

from openpyxl import Workbook

from services.common.auth import Caller
from services.common.db import today_cn, utcnow
from services.common.ids import new_id
from services.exam.models import ExamCandidate, ExamPlan, ExamUnit

LVLIANG = Caller(username="lvliang", role="regulator", region_code="141100")  # 吕梁市
WENSHUI_STATION = Caller(username="wenshui-s1", role="regulator", region_code="141121001")
TAIYUAN = Caller(username="taiyuan", role="regulator", region_code="140100")  # 太原市, another city of Shanxi

IMPORT_HEADER = ["题目编号", "题型", "类别", "适用岗位", "适用单位类型", "产品类别", "难度", "题干"]
IMPORT_HEADER += ["选项A", "选项B", "选项C", "选项D", "答案", "出处", "解析"]


def single_choice(**fields: Any) -> dict[str, Any]:
    return {
        "category": "law_regulation",
        "type": "single_choice",
        "stem": "《工业产品生产单位落实质量安全主体责任监督管理规定》是市场监管总局第几号令？",
        "options": [
            {"key": "A", "text": "第73号"},
            {"key": "B", "text": "第75号"},
            {"key": "C", "text": "第76号"},
        ],
        "answer": ["B"],
        "difficulty": 2,
        "source": "市场监管总局令第75号",
        "explanation": "生产单位适用第75号令。",
        **fields,
    }


def true_false(**fields: Any) -> dict[str, Any]:
    return {
        "category": "professional_knowledge",
        "type": "true_false",
        "stem": "停产停业期间可暂不执行“日管控、周排查、月调度”，但应如实记录、存档备查。",
        "answer": ["true"],
        "source": "种子001 三（五）",
        **fields,
    }


def row(code: str, kind: str = "单选题", **cells: str) -> list[str]:
    """One import row; by default a good single-choice question."""
    values = {
        "题目编号": code,
        "题型": kind,
        "类别": "法律法规",
        "适用岗位": "质量安全总监、质量安全员",
        "适用单位类型": "全部",
        "产品类别": "",
        "难度": "2",
        "题干": f"题目 {code}：“两个规定”是指哪两部总局令？",
        "选项A": "第75号和第76号",
        "选项B": "第73号和第74号",
        "选项C": "第18号和第44号",
        "选项D": "",
        "答案": "A",
        "出处": "种子001 前言",
        "解析": "",
        **cells,
    }
    return [values[h] for h in IMPORT_HEADER]


def csv_file(rows: list[list[str]], *, encoding: str = "utf-8-sig", header: list[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header or IMPORT_HEADER)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_file(rows: list[list[str]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(IMPORT_HEADER)
    for values in rows:
        sheet.append(values)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# ------------------------------------------------------------------------------------ plans and candidates
# The in-process sittings tests write a published plan and its candidates straight into the exam service's
# database, as POST /plans and /plans/{id}/draw leave them (a draw needs registry's managers, which only the
# whole system brings); tests/exam/test_through_gateway.py runs the same path through the real plans API.

SMALL_BLUEPRINT = [
    {"category": "law_regulation", "type": "single_choice", "count": 2, "points": 10},
    {"category": "law_regulation", "type": "multiple_choice", "count": 2, "points": 20},
    {"category": "professional_knowledge", "type": "true_false", "count": 2, "points": 20},
]


async def published_plan(
    app: Any,
    people: list[tuple[str, str]],
    *,
    organiser: str = "141121",
    mode: str = "online",
    period: tuple[Any, Any] | None = None,
    duration_minutes: int = 60,
    scoring: str = "all_or_nothing",
    partial_share: float = 0.5,
    status: str = "published",
    product_categories: list[str] | None = None,
) -> tuple[str, list[str]]:
    """A published plan of ``organiser`` whose candidates are the quality directors of units ``people``
    (uscc, region); returns the plan's id and the candidates' ids."""
    today = today_cn()
    start, end = period or (today - timedelta(days=1), today + timedelta(days=1))
    plan_id = new_id()
    now = utcnow()
    candidate_ids: list[str] = []
    async with app.state.db.transaction() as session:
        session.add(
            ExamPlan(
                id=plan_id,
                title="文水县质量安全总监监督抽查考核",
                organiser_region=organiser,
                mode=mode,
                period_start=start,
                period_end=end,
                roles='["quality_director"]',
                kinds='["production"]',
                sample_count=len(people),
                exclude_examined_within_months=12,
                pack="shanxi@test",
                blueprint=json.dumps(SMALL_BLUEPRINT),
                duration_minutes=duration_minutes,
                pass_mark=60,
                max_score=100,
                multiple_choice_scoring=scoring,
                partial_share=partial_share,
                status=status,
                draw_round=1,
                seed="0" * 32,
                algorithm="sha256-rank-v1",
                candidate_count=len(people),
                created_by="wenshui",
                created_at=now,
                published_at=now,
            )
        )
        for rank, (uscc, region) in enumerate(people):
            unit_id = new_id()
            session.add(
                ExamUnit(
                    id=unit_id,
                    uscc=uscc,
                    name=f"测试单位{rank}",
                    kind="production",
                    region_code=region,
                    product_categories=json.dumps(product_categories or []),
                )
            )
            candidate_ids.append(new_id())
            session.add(
                ExamCandidate(
                    id=candidate_ids[-1],
                    plan_id=plan_id,
                    manager_id=new_id(),
                    enterprise_id=unit_id,
                    uscc=uscc,
                    role="quality_director",
                    kind="production",
                    region_code=region,
                    name="张三",
                    draw_round=1,
                    rank=rank,
                )
            )
    return plan_id, candidate_ids


def sitting_bank_rows(
    prefix: str, *, single: int = 4, multiple: int = 3, true_false: int = 4
) -> list[list[str]]:
    """Import rows whose correct options say so (正确…), so a test can answer right in any shuffled order:
    single choice key A, multiple choice key A and C, true/false 正确."""
    rows = [
        row(f"{prefix}-S{i}", 选项A=f"正确{i}", 选项B=f"错误{i}", 选项C=f"干扰{i}", 答案="A")
        for i in range(single)
    ]
    rows += [
        row(
            f"{prefix}-M{i}",
            "多选题",
            选项A=f"正确甲{i}",
            选项B=f"错误乙{i}",
            选项C=f"正确丙{i}",
            选项D=f"错误丁{i}",
            答案="AC",
        )
        for i in range(multiple)
    ]
    rows += [
        row(f"{prefix}-T{i}", "判断题", 类别="专业知识", 选项A="", 选项B="", 选项C="", 答案="正确")
        for i in range(true_false)
    ]
    return rows
