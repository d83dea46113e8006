"""题库导入: questions from a sheet (``POST /questions/import``), and the template to fill in.

The sheet
---------
The first worksheet of an ``.xlsx`` file, or a ``.csv`` in UTF-8 (with or without BOM) or GB18030. Row 1 is
the header, every following row one question; blank rows are skipped but keep their numbers. Headers are
matched ignoring spaces, ``*``/``★`` and full-/half-width forms; columns may come in any order, unknown ones
are ignored; a file without a required column (★) is refused whole (422 ``IMPORT_COLUMNS_MISSING``).

==============  ====================  ===========================================================================
列 (header)      field                 accepted values
==============  ====================  ===========================================================================
★题目编号        code                  the question's stable code in this bank (e.g. ``SX-FG-001``): the key of
                                       a re-import
★题型            type                  单选题 / 多选题 / 判断题 (单选, 多选, 判断)
★类别            category              法律法规 / 标准 / 专业知识
 适用岗位        roles                 质量安全总监、质量安全员 (either or both); blank or 全部: both
 适用单位类型    kinds                 生产单位、销售单位 (生产, 销售); blank or 全部: both
 产品类别        product_categories    codes or names of the product catalogue, separated by 、 or ;; blank: all
 难度            difficulty            1–5; blank: 3
★题干            stem
 选项A … 选项H   options               the options' texts (blank for a 判断题)
★答案            answer                option letters (``B``, ``ABD``, ``A、B、D``); 判断题: 正确 / 错误 (对/错, √/×)
 出处            source                regulation article or standard number
 解析            explanation
==============  ====================  ===========================================================================

Every row is checked by the same rules as ``POST /questions`` (``rules.check``); each problem is reported
with its row, column, code and a Chinese message; good rows are written even when others are bad. A row is
matched to the bank by its 题目编号: a new code is a new question (version 1); a known one gets a new version
only if its content differs; an identical row writes nothing, so importing the same file twice changes
nothing. A retired question's row is rejected.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from openpyxl import Workbook

from services.common import sheets
from services.common.categories import product_categories
from services.common.sheets import (
    CellRequired,
    ChoiceInvalid,
    Column,
    ImportFileUnreadable,
    NumberInvalid,
    cell_text,
    header_fields,
)
from services.exam.bank import rules
from services.exam.bank.errors import DuplicateInFile, QuestionInvalid, QuestionKeyInvalid

OPTION_COLUMNS = tuple(Column(f"选项{key}", f"option_{key}", False) for key in rules.OPTION_KEYS)
COLUMNS: tuple[Column, ...] = (
    Column("题目编号", "code", True),
    Column("题型", "type", True),
    Column("类别", "category", True),
    Column("适用岗位", "roles", False),
    Column("适用单位类型", "kinds", False),
    Column("产品类别", "product_categories", False),
    Column("难度", "difficulty", False),
    Column("题干", "stem", True),
    *OPTION_COLUMNS,
    Column("答案", "answer", True),
    Column("出处", "source", False),
    Column("解析", "explanation", False),
)
HEADERS = [c.header for c in COLUMNS]
HEADER_OF = {c.field: c.header for c in COLUMNS} | {"options": "选项A"}
_HEADER_FIELDS = header_fields(
    COLUMNS,
    {
        "题号": "code",
        "题目类型": "type",
        "题目类别": "category",
        "正确答案": "answer",
        "适用单位": "kinds",
        "依据": "source",
    },
)
_TYPES = {name: code for code, name in rules.TYPE_NAMES.items()} | {
    "单选": "single_choice",
    "单项选择题": "single_choice",
    "多选": "multiple_choice",
    "多项选择题": "multiple_choice",
    "判断": "true_false",
    **{code: code for code in rules.TYPE_NAMES},
}
_CATEGORIES = {name: code for code, name in rules.CATEGORY_NAMES.items()} | {
    c: c for c in rules.CATEGORY_NAMES
}
_ROLES = {name: code for code, name in rules.ROLE_NAMES.items()} | {
    "总监": "quality_director",
    "安全员": "quality_officer",
    **{c: c for c in rules.ROLE_NAMES},
}
_KINDS = {name: code for code, name in rules.KIND_NAMES.items()} | {
    "生产": "production",
    "销售": "sales",
    **{c: c for c in rules.KIND_NAMES},
}
_ALL = {"全部", "两者", "均适用", "all"}
_TRUE = {"正确", "对", "√", "是", "true", "t", "y"}
_FALSE = {"错误", "错", "×", "x", "否", "false", "f", "n"}
_SEPARATORS = re.compile(r"[、;；,，/\s]+")


@dataclass
class RowError:
    row: int
    column: str
    code: str
    message: str
    question_code: str | None


@dataclass
class SheetQuestion:
    row: int
    code: str
    draft: rules.Draft


class _CellError(Exception):
    def __init__(self, field: str, error: type, message: str) -> None:
        super().__init__(message)
        self.field, self.error, self.message = field, error, message


def match_headers(header: Sequence[object] | None) -> dict[str, int]:
    """Field → column index; raises ImportColumnsMissing naming every missing required column."""
    if header is None:
        raise ImportFileUnreadable("导入文件是空的：第1行须为表头，可下载导入模板")
    return sheets.match_headers(header, COLUMNS, _HEADER_FIELDS, hint="可下载导入模板")


def _choice(field: str, text: str, choices: dict[str, str]) -> str:
    value = choices.get(text) or choices.get(text.lower())
    if value is None:
        allowed = "、".join(k for k in choices if not k.isascii())
        raise _CellError(field, ChoiceInvalid, f"{HEADER_OF[field]}“{text}”不是可选的值（可填：{allowed}）")
    return value


def _many(field: str, text: str | None, choices: dict[str, str]) -> list[str]:
    if text is None or text.strip().lower() in _ALL:
        return list(dict.fromkeys(choices.values()))
    return list(dict.fromkeys(_choice(field, part, choices) for part in _SEPARATORS.split(text) if part))


def _categories(text: str | None) -> list[str]:
    if not text:
        return []
    names = {c.name: code for code, c in product_categories().items()}
    # Whole names first: a name may itself hold a separator (…（插头插座等）).
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, f"；{names[name]}；")
    return [part for part in re.split(r"[、;；,，\n]+", text) if part.strip()]


def _answer(kind: str, text: str) -> list[str]:
    if kind == "true_false":
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return ["true"]
        if lowered in _FALSE:
            return ["false"]
        raise _CellError("answer", QuestionKeyInvalid, f"判断题的答案须为“正确”或“错误”，而不是“{text}”")
    letters = re.sub(r"[、;；,，\s]", "", text).upper()
    if not letters.isascii() or not letters.isalpha():
        raise _CellError("answer", QuestionKeyInvalid, f"答案须为选项字母（如 B 或 ABD），而不是“{text}”")
    return list(letters)


def _difficulty(text: str | None) -> int:
    if text is None:
        return 3
    try:
        value = float(text)
    except ValueError:
        raise _CellError("difficulty", NumberInvalid, f"难度须为 1–5 的整数，而不是“{text}”") from None
    if not value.is_integer():
        raise _CellError("difficulty", NumberInvalid, f"难度须为 1–5 的整数，而不是“{text}”")
    return int(value)


def _draft(cells: dict[str, str | None]) -> rules.Draft:
    for column in COLUMNS:
        if column.required and not cells.get(column.field):
            raise _CellError(column.field, CellRequired, f"{column.header}不能为空")
    kind = _choice("type", cells["type"] or "", _TYPES)
    options = [
        {"key": key, "text": text}
        for key in rules.OPTION_KEYS
        if (text := cells.get(f"option_{key}")) is not None
    ]
    return rules.Draft(
        category=_choice("category", cells["category"] or "", _CATEGORIES),
        type=kind,
        stem=cells["stem"] or "",
        roles=_many("roles", cells.get("roles"), _ROLES),
        kinds=_many("kinds", cells.get("kinds"), _KINDS),
        product_categories=_categories(cells.get("product_categories")),
        options=options,
        answer=_answer(kind, cells["answer"] or ""),
        difficulty=_difficulty(cells.get("difficulty")),
        source=cells.get("source"),
        explanation=cells.get("explanation"),
    )


def _column_of(field: str) -> str:
    if field.startswith("options."):
        index = int(field.split(".")[1])
        return f"选项{rules.OPTION_KEYS[index]}" if index < len(rules.OPTION_KEYS) else "选项A"
    return HEADER_OF.get(field, field)


def read_questions(rows: Iterable[Sequence[object]]) -> tuple[list[SheetQuestion], list[RowError]]:
    """The good questions of a sheet (header first) and an error for every problem of the bad rows."""
    iterator = iter(rows)
    columns = match_headers(next(iterator, None))
    good: list[SheetQuestion] = []
    errors: list[RowError] = []
    first_row_of: dict[str, int] = {}
    for number, raw in enumerate(iterator, start=2):
        cells = {name: cell_text(raw[i]) if i < len(raw) else None for name, i in columns.items()}
        if not any(cells.values()):
            continue
        code = cells.get("code")
        try:
            draft = rules.normalise(_draft(cells))
        except _CellError as exc:
            errors.append(RowError(number, _column_of(exc.field), exc.error.code, exc.message, code))
            continue
        problems = rules.check(draft)
        if problems:
            errors += [RowError(number, _column_of(p.field), p.code, p.message, code) for p in problems]
            continue
        assert code is not None
        if len(code) > 50 or not re.fullmatch(r"\S+", code):
            errors.append(
                RowError(number, "题目编号", QuestionInvalid.code, "题目编号须为不含空格的 1–50 个字符", code)
            )
            continue
        if code in first_row_of:
            errors.append(
                RowError(
                    number,
                    "题目编号",
                    DuplicateInFile.code,
                    f"题目编号 {code} 与第 {first_row_of[code]} 行重复",
                    code,
                )
            )
            continue
        first_row_of[code] = number
        good.append(SheetQuestion(number, code, draft))
    return good, errors


def template() -> bytes:
    """导入模板: the header and one example of each type."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "题库导入"
    sheet.append(HEADERS)
    examples = [
        {
            "code": "LOCAL-001",
            "type": "单选题",
            "category": "法律法规",
            "roles": "质量安全总监、质量安全员",
            "kinds": "生产单位",
            "difficulty": "2",
            "stem": "《工业产品生产单位落实质量安全主体责任监督管理规定》是市场监管总局第几号令？",
            "option_A": "第73号",
            "option_B": "第75号",
            "option_C": "第76号",
            "answer": "B",
            "source": "市场监管总局令第75号",
        },
        {
            "code": "LOCAL-002",
            "type": "多选题",
            "category": "专业知识",
            "stem": "“日管控、周排查、月调度”工作机制形成的配套文件包括哪些？",
            "option_A": "《每日工业产品质量安全检查记录》",
            "option_B": "《每周工业产品质量安全排查治理报告》",
            "option_C": "《每月工业产品质量安全调度会议纪要》",
            "option_D": "《年度质量安全白皮书》",
            "answer": "ABC",
            "source": "南京市实施方案 二（四）",
        },
        {
            "code": "LOCAL-003",
            "type": "判断题",
            "category": "法律法规",
            "stem": "生产和销售单位停产停业期间，可暂不执行“日管控、周排查、月调度”工作机制，但相关情况应如实记录、存档备查。",
            "answer": "正确",
            "source": "山西省实施方案 三（五）",
        },
    ]
    for example in examples:
        sheet.append([example.get(c.field, "") for c in COLUMNS])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
