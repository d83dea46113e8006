"""The clock of a sitting and what a valid answer is (pure: the service passes in ``now``).

A plan's window is Beijing time, from ``period_start`` 00:00 to ``period_end`` 24:00; a sitting started at
``started`` ends at ``min(started + duration, window end)``; from its deadline on, it takes no answer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from services.common.db import CHINA
from services.exam.sittings.papers import LABELS

TRUE_FALSE = ("true", "false")


def window(period_start: date, period_end: date) -> tuple[datetime, datetime]:
    """The window as UTC instants: [period_start 00:00, period_end + 1 day 00:00) in Beijing."""
    start = datetime.combine(period_start, time(), CHINA).astimezone(UTC)
    end = datetime.combine(period_end + timedelta(days=1), time(), CHINA).astimezone(UTC)
    return start, end


def in_window(now: datetime, period_start: date, period_end: date) -> bool:
    start, end = window(period_start, period_end)
    return start <= now < end


def deadline(started: datetime, duration_minutes: int, window_end: datetime) -> datetime:
    return min(started + timedelta(minutes=duration_minutes), window_end)


def is_past(deadline_at: datetime, now: datetime) -> bool:
    """At the deadline the sitting is over: an answer arriving then is too late."""
    return now >= deadline_at


def remaining_seconds(deadline_at: datetime, now: datetime) -> int:
    """Whole seconds left (rounded down, never negative): what the person's countdown shows."""
    return max(0, int((deadline_at - now).total_seconds()))


def check_answer(question_type: str, option_count: int, answer: Sequence[str]) -> str | None:
    """Why ``answer`` (in shown labels, or true/false) does not fit the question, in Chinese; None if it does.
    An empty list clears an answer."""
    if not answer:
        return None
    if len(set(answer)) != len(answer):
        return "答案中有重复的选项"
    if question_type == "true_false":
        return (
            None
            if len(answer) == 1 and answer[0] in TRUE_FALSE
            else "判断题的答案须为 true（正确）或 false（错误）"
        )
    allowed = LABELS[:option_count]
    wrong = [a for a in answer if a not in allowed]
    if wrong:
        return f"选项 {'、'.join(map(str, wrong))} 不存在（本题选项为 {'、'.join(allowed)}）"
    if question_type == "single_choice" and len(answer) != 1:
        return "单选题只能选择一个选项"
    return None
