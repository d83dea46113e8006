"""The pure parts of papers and sittings: the draw of a paper, its options' order, scoring, the clock."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from services.common.draw import rank, sort_key
from services.exam.sittings import papers, rules, scoring
from services.exam.sittings.papers import BankQuestion, draw_paper

BLUEPRINT = [
    {"category": "law_regulation", "type": "single_choice", "count": 3, "points": 10},
    {"category": "law_regulation", "type": "multiple_choice", "count": 2, "points": 20},
    {"category": "professional_knowledge", "type": "true_false", "count": 3, "points": 10},
]


def bank(single: int = 10, multiple: int = 10, true_false: int = 10) -> list[BankQuestion]:
    found = [
        BankQuestion(f"s{i:03d}", 1, "law_regulation", "single_choice", ("A", "B", "C", "D"))
        for i in range(single)
    ]
    found += [
        BankQuestion(f"m{i:03d}", 2, "law_regulation", "multiple_choice", ("A", "B", "C", "D", "E"))
        for i in range(multiple)
    ]
    found += [
        BankQuestion(f"t{i:03d}", 1, "professional_knowledge", "true_false", ()) for i in range(true_false)
    ]
    return found


def test_rank_orders_as_the_published_sort_key_does() -> None:
    ids = [f"id-{random.random()}" for _ in range(300)]
    assert rank("seed-1", "paper\x00x", ids) == sorted(
        ids, key=lambda c: (sort_key("seed-1", "paper\x00x", c), c)
    )
    long_seed = "k" * 100  # longer than HMAC's block: hashed first
    assert rank(long_seed, "p", ids) == sorted(ids, key=lambda c: (sort_key(long_seed, "p", c), c))


def test_a_paper_is_reproducible_from_its_seed_and_follows_the_blueprint() -> None:
    first = draw_paper("seed-a", BLUEPRINT, bank())
    assert (
        draw_paper("seed-a", BLUEPRINT, list(reversed(bank()))) == first
    )  # the bank's order does not matter
    assert draw_paper("seed-b", BLUEPRINT, bank()) != first
    assert [q.type for q in first] == ["single_choice"] * 3 + ["multiple_choice"] * 2 + ["true_false"] * 3
    assert [q.position for q in first] == list(range(1, 9)) and papers.max_score(first) == 100
    assert first[3].version == 2 and not any(q.repeated for q in first)
    # The published rule: each line's questions are the first of the ranking with its purpose.
    singles = [q.question_id for q in bank() if q.type == "single_choice"]
    assert [q.question_id for q in first[:3]] == rank(
        "seed-a", "paper\x00law_regulation\x00single_choice", singles
    )[:3]
    assert first[0].options == tuple(rank("seed-a", f"options\x00{first[0].question_id}", "ABCD"))


def test_two_candidates_see_the_options_in_different_orders_that_map_back_to_the_key() -> None:
    one, other = (
        draw_paper("seed-one", BLUEPRINT, bank(4, 2, 3)),
        draw_paper("seed-two", BLUEPRINT, bank(4, 2, 3)),
    )
    orders = {q.question_id: q.options for q in one}
    shared = [q for q in other if q.question_id in orders and q.type != "true_false"]
    assert shared and any(orders[q.question_id] != q.options for q in shared)
    for q in one:
        assert sorted(q.options) == sorted(
            next(b.option_keys for b in bank(4, 2, 3) if b.question_id == q.question_id)
        )
        if q.type == "true_false":
            assert q.options == () and papers.to_original(q.options, q.type, ["true"]) == ["true"]
            continue
        key = [q.options[1], q.options[0]]  # some original keys
        shown = papers.to_shown(q.options, q.type, key)
        assert shown == ["A", "B"] and sorted(papers.to_original(q.options, q.type, shown)) == sorted(key)


def test_a_retake_repeats_no_question_while_the_bank_allows_and_the_fewest_when_it_does_not() -> None:
    roomy = bank(6, 4, 6)
    first = draw_paper("first", BLUEPRINT, roomy)
    second = draw_paper("second", BLUEPRINT, roomy, previous=[q.question_id for q in first])
    assert not {q.question_id for q in first} & {q.question_id for q in second}
    tight = bank(4, 3, 4)  # 3 multiple-choice questions for 2 a paper: a second paper must repeat one
    first = draw_paper("first", BLUEPRINT, tight)
    second = draw_paper("second", BLUEPRINT, tight, previous=[q.question_id for q in first])
    repeated = {q.question_id for q in first} & {q.question_id for q in second}
    # 3 of 4 singles and of 4 true/false, 2 of 3 multiple choice: only 1, 1 and 1 fresh ones remain
    assert len(repeated) == 2 + 2 + 1
    assert {q.question_id for q in second if q.repeated} == repeated
    assert sum(1 for q in second if q.repeated and q.type == "multiple_choice") == 1


def test_questions_of_fields_the_unit_does_not_work_in_are_not_drawn_and_a_short_bank_is_refused() -> None:
    fielded = [
        BankQuestion("gas", 1, "law_regulation", "single_choice", ("A", "B"), ("gas_stove",)),
        BankQuestion("wire", 1, "law_regulation", "single_choice", ("A", "B"), ("wire_cable",)),
        BankQuestion("all", 1, "law_regulation", "single_choice", ("A", "B")),
    ]
    line = [{"category": "law_regulation", "type": "single_choice", "count": 2, "points": 5}]
    drawn = draw_paper("s", line, fielded, unit_categories=["gas_stove"])
    assert {q.question_id for q in drawn} == {"gas", "all"}
    with pytest.raises(papers.BankTooSmall) as refused:
        draw_paper("s", line, fielded, unit_categories=[])
    assert (refused.value.needed, refused.value.available) == (2, 1)


@pytest.mark.parametrize(
    ("kind", "key", "answer", "all_or_nothing", "partial"),
    [
        ("single_choice", ["B"], ["B"], 10, 10),
        ("single_choice", ["B"], ["C"], 0, 0),
        ("true_false", ["false"], ["false"], 10, 10),
        ("true_false", ["false"], ["true"], 0, 0),
        ("multiple_choice", ["A", "C", "D"], ["D", "A", "C"], 10, 10),
        ("multiple_choice", ["A", "C", "D"], ["A", "C"], 0, 4),  # a correct subset: the partial share
        ("multiple_choice", ["A", "C", "D"], ["A", "B"], 0, 0),  # a wrong option: nothing
        ("multiple_choice", ["A", "C", "D"], ["A", "B", "C", "D"], 0, 0),
        ("multiple_choice", ["A", "C", "D"], [], 0, 0),
        ("multiple_choice", ["A", "C", "D"], None, 0, 0),
    ],
)
def test_answers_score_by_type_and_the_plans_multiple_choice_rule(
    kind: str, key: list[str], answer: list[str] | None, all_or_nothing: float, partial: float
) -> None:
    assert (
        scoring.score_answer(kind, key, answer, 10, scoring="all_or_nothing", partial_share=0.4)
        == all_or_nothing
    )
    assert scoring.score_answer(kind, key, answer, 10, scoring="partial", partial_share=0.4) == partial


def test_a_sitting_passes_at_the_pass_mark() -> None:
    questions = [
        scoring.KeyedQuestion("q1", "single_choice", ["A"], 40),
        scoring.KeyedQuestion("q2", "multiple_choice", ["A", "B"], 40),
        scoring.KeyedQuestion("q3", "true_false", ["true"], 20),
    ]
    answers = {"q1": ["A"], "q2": ["A"]}
    strict = scoring.score_sitting(
        questions, answers, scoring="all_or_nothing", partial_share=0.5, pass_mark=60
    )
    assert (strict.score, strict.max_score, strict.passed) == (40, 100, False)
    assert strict.points == {"q1": 40, "q2": 0, "q3": 0}
    lenient = scoring.score_sitting(questions, answers, scoring="partial", partial_share=0.5, pass_mark=60)
    assert (lenient.score, lenient.passed) == (60, True)  # exactly the pass mark passes


def test_the_window_is_beijing_days_and_the_deadline_the_earlier_of_duration_and_window_end() -> None:
    opens, closes = rules.window(date(2026, 12, 1), date(2026, 12, 3))
    assert opens == datetime(2026, 11, 30, 16, tzinfo=UTC) and closes == datetime(2026, 12, 3, 16, tzinfo=UTC)
    assert not rules.in_window(opens - timedelta(seconds=1), date(2026, 12, 1), date(2026, 12, 3))
    assert rules.in_window(opens, date(2026, 12, 1), date(2026, 12, 3))
    assert not rules.in_window(closes, date(2026, 12, 1), date(2026, 12, 3))
    started = closes - timedelta(minutes=20)
    assert rules.deadline(started, 60, closes) == closes
    assert rules.deadline(opens, 60, closes) == opens + timedelta(minutes=60)


def test_the_deadline_against_a_clock() -> None:
    deadline = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    before, at = deadline - timedelta(seconds=1.5), deadline
    assert not rules.is_past(deadline, before) and rules.remaining_seconds(deadline, before) == 1
    assert rules.is_past(deadline, at) and rules.remaining_seconds(deadline, at + timedelta(hours=1)) == 0


@pytest.mark.parametrize(
    ("kind", "answer", "ok"),
    [
        ("single_choice", ["B"], True),
        ("single_choice", ["A", "B"], False),
        ("single_choice", ["E"], False),  # 4 options: A–D
        ("multiple_choice", ["A", "D"], True),
        ("multiple_choice", ["A", "A"], False),
        ("true_false", ["true"], True),
        ("true_false", ["A"], False),
        ("true_false", [], True),  # clearing
    ],
)
def test_an_answer_must_fit_its_question(kind: str, answer: list[str], ok: bool) -> None:
    assert (rules.check_answer(kind, 0 if kind == "true_false" else 4, answer) is None) is ok
