"""The rules of a question, without a database: which answer keys agree with which types, and the digest that
tells an edit from a no-op."""

from __future__ import annotations

import pytest

from services.exam.bank import rules


def draft(kind: str, options: str, answer: list[str], **fields: object) -> rules.Draft:
    return rules.Draft(
        category="law_regulation",
        type=kind,
        stem="题干",
        options=[{"key": key, "text": f"选项{key}"} for key in options],
        answer=answer,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("kind", "options", "answer", "codes"),
    [
        ("single_choice", "ABCD", ["B"], []),
        ("single_choice", "ABCD", ["B", "C"], ["QUESTION_KEY_INVALID"]),
        ("single_choice", "ABCD", ["E"], ["QUESTION_KEY_INVALID"]),
        ("single_choice", "A", ["A"], ["QUESTION_OPTIONS_INVALID"]),
        ("multiple_choice", "ABCD", ["A", "D"], []),
        ("multiple_choice", "ABCD", ["A", "B", "C", "D"], []),
        ("multiple_choice", "ABCD", ["A"], ["QUESTION_KEY_INVALID"]),
        ("multiple_choice", "ABC", ["A", "D"], ["QUESTION_KEY_INVALID"]),
        ("multiple_choice", "ABB", ["A", "B"], ["QUESTION_OPTIONS_INVALID"]),
        ("true_false", "", ["true"], []),
        ("true_false", "", ["false"], []),
        ("true_false", "", ["true", "false"], ["QUESTION_KEY_INVALID"]),
        ("true_false", "AB", ["A"], ["QUESTION_OPTIONS_INVALID"]),
        ("essay", "", ["x"], ["QUESTION_INVALID"]),
    ],
)
def test_answer_keys_agree_with_their_type(
    kind: str, options: str, answer: list[str], codes: list[str]
) -> None:
    assert [p.code for p in rules.check(rules.normalise(draft(kind, options, answer)))] == codes


def test_other_fields_are_checked_and_all_problems_reported() -> None:
    bad = draft("single_choice", "AB", ["A", "B"], roles=[], kinds=[], difficulty=6, product_categories=["x"])
    fields = [p.field for p in rules.check(rules.normalise(bad))]
    assert fields == ["roles", "kinds", "difficulty", "product_categories", "answer"]


def test_the_digest_ignores_spacing_case_and_order_but_not_content() -> None:
    one = rules.columns(rules.normalise(draft("multiple_choice", "ABCD", ["c", "A"], source=" 令第75号 ")))
    same = rules.columns(rules.normalise(draft("multiple_choice", "ABCD", ["A", "C"], source="令第75号")))
    other = rules.columns(rules.normalise(draft("multiple_choice", "ABCD", ["A", "D"], source="令第75号")))
    assert one["content_sha256"] == same["content_sha256"] != other["content_sha256"]
    assert one["answer"] == '["A", "C"]'
