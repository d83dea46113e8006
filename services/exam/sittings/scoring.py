"""阅卷计分: the points of an answer and the score of a sitting (pure; the results helper's regrade calls the
same two functions with a corrected key).

* single choice and true/false: the answer equals the key, or 0;
* multiple choice, by the plan's ``multiple_choice_scoring`` (copied from the province's pack):
  ``all_or_nothing`` — exactly the key's options, or 0; ``partial`` — exactly the key: full points; a non-empty
  proper subset of the key (no wrong option): ``points × partial_share``; anything with a wrong option, or
  nothing: 0.

Answers and keys are lists of the version's option keys (``["A", "C"]``) or ``["true"]`` / ``["false"]``,
order and repeats ignored. ``passed`` is ``score ≥ pass_mark`` (the plan's pass mark, in points)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

ALL_OR_NOTHING, PARTIAL = "all_or_nothing", "partial"


@dataclass(frozen=True)
class KeyedQuestion:
    """A question of a paper with the key it is scored by."""

    question_id: str
    type: str  # single_choice | multiple_choice | true_false
    key: Sequence[str]
    points: float


@dataclass(frozen=True)
class SittingScore:
    points: dict[str, float]  # question id → points awarded (every question of the paper)
    score: float
    max_score: float
    passed: bool


def score_answer(
    question_type: str,
    key: Sequence[str],
    answer: Sequence[str] | None,
    points: float,
    *,
    scoring: str = ALL_OR_NOTHING,
    partial_share: float = 0.5,
) -> float:
    """The points one answer earns (see the module's docstring); no answer (None or []) earns 0."""
    given, correct = set(answer or ()), set(key)
    if not given:
        return 0.0
    if given == correct:
        return float(points)
    if question_type == "multiple_choice" and scoring == PARTIAL and given < correct:
        return round(points * partial_share, 4)
    return 0.0


def score_sitting(
    questions: Iterable[KeyedQuestion],
    answers: Mapping[str, Sequence[str]],
    *,
    scoring: str,
    partial_share: float,
    pass_mark: float,
) -> SittingScore:
    """Every question's points, the total, the paper's maximum and whether the total reaches the pass mark.
    ``answers``: question id → the saved answer (questions left unanswered are simply absent)."""
    awarded: dict[str, float] = {}
    total = maximum = 0.0
    for q in questions:
        awarded[q.question_id] = score_answer(
            q.type, q.key, answers.get(q.question_id), q.points, scoring=scoring, partial_share=partial_share
        )
        total += awarded[q.question_id]
        maximum += q.points
    score = round(total, 4)
    return SittingScore(points=awarded, score=score, max_score=round(maximum, 4), passed=score >= pass_mark)
