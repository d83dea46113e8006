"""What a valid question is (pure functions over plain data): its type, options and answer key agree, its
product fields are in the catalogue; and the digest of its content, which tells an edit from a no-op."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from services.common.categories import category_codes
from services.common.problems import Problem
from services.exam.bank.errors import (
    QuestionCategoryUnknown,
    QuestionInvalid,
    QuestionKeyInvalid,
    QuestionOptionsInvalid,
)

# 题目类别: 法律法规、标准、专业知识 (seed 001 三(七)).
CATEGORY_NAMES = {"law_regulation": "法律法规", "standard": "标准", "professional_knowledge": "专业知识"}
TYPE_NAMES = {"single_choice": "单选题", "multiple_choice": "多选题", "true_false": "判断题"}
ROLE_NAMES = {"quality_director": "质量安全总监", "quality_officer": "质量安全员"}
KIND_NAMES = {"production": "生产单位", "sales": "销售单位"}
OPTION_KEYS = "ABCDEFGH"
TRUE_FALSE = ("true", "false")


@dataclass
class Draft:
    """A question's content as entered (API body or import row), before it is checked."""

    category: str
    type: str
    stem: str
    roles: list[str] = field(default_factory=lambda: list(ROLE_NAMES))
    kinds: list[str] = field(default_factory=lambda: list(KIND_NAMES))
    product_categories: list[str] = field(default_factory=list)
    options: list[dict[str, str]] = field(default_factory=list)  # {"key": "A", "text": …}
    answer: list[str] = field(default_factory=list)
    difficulty: int = 3
    source: str | None = None
    explanation: str | None = None


def normalise(draft: Draft) -> Draft:
    """Trimmed texts, upper-case keys, answer in option order, lists without repeats (a no-op edit stays one)."""
    options = [{"key": o["key"].strip().upper(), "text": o["text"].strip()} for o in draft.options]
    order = {o["key"]: i for i, o in enumerate(options)}
    answer = list(
        dict.fromkeys(
            a.strip().upper() if draft.type != "true_false" else a.strip().lower() for a in draft.answer
        )
    )
    answer.sort(key=lambda key: order.get(key, len(order)))
    return Draft(
        category=draft.category,
        type=draft.type,
        stem=draft.stem.strip(),
        roles=[r for r in ROLE_NAMES if r in draft.roles],
        kinds=[k for k in KIND_NAMES if k in draft.kinds],
        product_categories=sorted(set(draft.product_categories)),
        options=options,
        answer=answer,
        difficulty=draft.difficulty,
        source=(draft.source or "").strip() or None,
        explanation=(draft.explanation or "").strip() or None,
    )


def _key_problems(draft: Draft) -> list[Problem]:
    keys = [o["key"] for o in draft.options]
    if draft.type == "true_false":
        if len(draft.answer) != 1 or draft.answer[0] not in TRUE_FALSE:
            return [Problem("answer", QuestionKeyInvalid, "判断题的答案须为“正确”或“错误”之一")]
        return []
    missing = [a for a in draft.answer if a not in keys]
    if missing:
        return [
            Problem(
                "answer",
                QuestionKeyInvalid,
                f"答案中的选项 {'、'.join(missing)} 不存在（现有选项：{'、'.join(keys)}）",
            )
        ]
    if draft.type == "single_choice" and len(draft.answer) != 1:
        return [
            Problem(
                "answer", QuestionKeyInvalid, f"单选题须有且只有一个正确选项（现为 {len(draft.answer)} 个）"
            )
        ]
    if draft.type == "multiple_choice" and len(draft.answer) < 2:
        return [
            Problem(
                "answer", QuestionKeyInvalid, f"多选题须有至少两个正确选项（现为 {len(draft.answer)} 个）"
            )
        ]
    return []


def _option_problems(draft: Draft) -> list[Problem]:
    if draft.type == "true_false":
        if draft.options:
            return [Problem("options", QuestionOptionsInvalid, "判断题不设选项")]
        return []
    problems = []
    keys = [o["key"] for o in draft.options]
    if len(keys) < 2:
        problems.append(
            Problem("options", QuestionOptionsInvalid, f"{TYPE_NAMES[draft.type]}须有至少两个选项")
        )
    wrong = [k for k in keys if len(k) != 1 or k not in OPTION_KEYS]
    if wrong:
        problems.append(
            Problem("options", QuestionOptionsInvalid, f"选项标识须为 A–H 的字母：{'、'.join(wrong)}")
        )
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        problems.append(Problem("options", QuestionOptionsInvalid, f"选项 {'、'.join(repeated)} 重复"))
    for index, option in enumerate(draft.options):
        if not option["text"]:
            problems.append(
                Problem(f"options.{index}.text", QuestionOptionsInvalid, f"选项 {option['key']} 内容为空")
            )
    return problems


def check(draft: Draft) -> list[Problem]:
    """Every problem of a (normalised) question; an empty list means it may be stored."""
    problems: list[Problem] = []
    if draft.category not in CATEGORY_NAMES:
        allowed = "、".join(CATEGORY_NAMES.values())
        problems.append(Problem("category", QuestionInvalid, f"题目类别须为{allowed}之一"))
    if draft.type not in TYPE_NAMES:
        problems.append(Problem("type", QuestionInvalid, "题型须为单选题、多选题或判断题"))
        return problems
    if not draft.stem:
        problems.append(Problem("stem", QuestionInvalid, "题干不能为空"))
    if not draft.roles:
        problems.append(Problem("roles", QuestionInvalid, "须至少适用于质量安全总监或质量安全员之一"))
    if not draft.kinds:
        problems.append(Problem("kinds", QuestionInvalid, "须至少适用于生产单位或销售单位之一"))
    if not 1 <= draft.difficulty <= 5:
        problems.append(Problem("difficulty", QuestionInvalid, "难度须为 1–5 的整数"))
    unknown = [c for c in draft.product_categories if c not in category_codes()]
    if unknown:
        problems.append(
            Problem(
                "product_categories",
                QuestionCategoryUnknown,
                f"产品类别 {'、'.join(unknown)} 不在产品类别目录中",
            )
        )
    option_problems = _option_problems(draft)
    problems += option_problems
    if not option_problems:  # a key is only judged against options that stand
        problems += _key_problems(draft)
    return problems


def columns(draft: Draft) -> dict[str, Any]:
    """The stored columns of a (normalised, checked) question's content, its digest included."""
    content = {
        "category": draft.category,
        "for_director": "quality_director" in draft.roles,
        "for_officer": "quality_officer" in draft.roles,
        "for_production": "production" in draft.kinds,
        "for_sales": "sales" in draft.kinds,
        "product_categories": json.dumps(draft.product_categories, ensure_ascii=False),
        "type": draft.type,
        "stem": draft.stem,
        "options": json.dumps(draft.options, ensure_ascii=False),
        "answer": json.dumps(draft.answer, ensure_ascii=False),
        "difficulty": draft.difficulty,
        "source": draft.source,
        "explanation": draft.explanation,
    }
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return {**content, "content_sha256": hashlib.sha256(canonical.encode()).hexdigest()}
