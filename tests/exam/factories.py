"""Test data of the question bank: API bodies and import sheets."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook

from services.common.auth import Caller

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
