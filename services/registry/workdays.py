"""工作日 and self-check periods: pure functions over dates, no database.

Working days come from ``services.common.workdays`` (the official calendar with its 调休 make-up days).

Self-check periods (日管控、周排查、月调度): a daily record is for one day, a weekly one for an ISO week
(Monday to Sunday), a monthly one for a calendar month. Each period is named by its first day.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from services.common.workdays import is_working_day

DAILY, WEEKLY, MONTHLY = "daily_control", "weekly_review", "monthly_dispatch"
KINDS = (DAILY, WEEKLY, MONTHLY)
KIND_NAMES = {
    DAILY: "日管控（每日安全检查记录）",
    WEEKLY: "周排查（每周安全排查治理报告）",
    MONTHLY: "月调度（每月安全调度会议纪要）",
}


# ------------------------------------------------------------------------------------------------ periods


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown self-check kind {kind!r}")


def period_start(kind: str, day: date) -> date:
    """The first day of the period of ``kind`` that contains ``day``: the day itself; the Monday of its ISO
    week; the first of its month."""
    _check_kind(kind)
    if kind == DAILY:
        return day
    if kind == WEEKLY:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def period_end(kind: str, start: date) -> date:
    """The last day of the period of ``kind`` that contains ``start``."""
    first = period_start(kind, start)
    if kind == DAILY:
        return first
    if kind == WEEKLY:
        return first + timedelta(days=6)
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return following - timedelta(days=1)


def periods(kind: str, first: date, last: date) -> Iterator[date]:
    """The starts of every period of ``kind`` that overlaps ``first``…``last`` (inclusive), in order."""
    start = period_start(kind, first)
    while start <= last:
        yield start
        start = period_end(kind, start) + timedelta(days=1)


def period_label(kind: str, start: date) -> str:
    """How a period is written in URLs and lists: ``2026-11-25``, ``2026-W48`` (ISO week), ``2026-11``."""
    start = period_start(kind, start)
    if kind == DAILY:
        return start.isoformat()
    if kind == WEEKLY:
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start.year:04d}-{start.month:02d}"


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_period(kind: str, text: str) -> date:
    """The start of the period written ``text`` (see ``period_label``; a week may also be given by its
    Monday's date). Raises ValueError with a Chinese message."""
    _check_kind(kind)
    text = text.strip().upper()
    try:
        if kind == DAILY and _DAY.match(text):
            return date.fromisoformat(text)
        if kind == WEEKLY:
            if match := _WEEK.match(text):
                return date.fromisocalendar(int(match[1]), int(match[2]), 1)
            if _DAY.match(text):
                monday = date.fromisoformat(text)
                if monday.weekday() != 0:
                    raise ValueError(f"{text} 不是星期一；周排查请写 YYYY-Www（ISO 周）或该周星期一的日期")
                return monday
        if kind == MONTHLY and (match := _MONTH.match(text)):
            return date(int(match[1]), int(match[2]), 1)
    except ValueError as exc:
        if "星期一" in str(exc):
            raise
        raise ValueError(f"{text} 不是有效的期间") from None
    formats = {DAILY: "YYYY-MM-DD", WEEKLY: "YYYY-Www 或该周星期一 YYYY-MM-DD", MONTHLY: "YYYY-MM"}
    raise ValueError(f"{text} 不是有效的期间，{KIND_NAMES[kind]}的期间写作 {formats[kind]}")


@lru_cache(maxsize=32768)
def _working_days_of(kind: str, start: date) -> tuple[date, ...]:
    end = period_end(kind, start)
    return tuple(
        start + timedelta(days=i)
        for i in range((end - start).days + 1)
        if is_working_day(start + timedelta(days=i))
    )


def working_days_of(kind: str, start: date, overrides: Mapping[date, bool] | None = None) -> tuple[date, ...]:
    """The working days of the period of ``kind`` starting at ``start``."""
    start = period_start(kind, start)
    if overrides is None:
        return _working_days_of(kind, start)
    end = period_end(kind, start)
    return tuple(
        start + timedelta(days=i)
        for i in range((end - start).days + 1)
        if is_working_day(start + timedelta(days=i), overrides)
    )


# ------------------------------------------------------------------------------------------------ owed


@dataclass(frozen=True)
class Pause:
    """停产 / 停业 from ``start`` to ``end`` inclusive (``end`` None: still paused)."""

    start: date
    end: date | None = None
    status: str = "production_suspended"

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


def operating_on(day: date, pauses: Sequence[Pause], final_on: date | None = None) -> bool:
    """Whether the unit operates on ``day``: not in a pause, and before its final status took effect."""
    if final_on is not None and day >= final_on:
        return False
    return not any(pause.covers(day) for pause in pauses)


def owed_periods(
    kind: str,
    from_day: date,
    to_day: date,
    pauses: Sequence[Pause] = (),
    final_on: date | None = None,
    overrides: Mapping[date, bool] | None = None,
) -> list[date]:
    """The periods of ``kind`` owed between ``from_day`` and ``to_day`` (inclusive), by their starts.

    A period is owed when it has ended by ``to_day`` and the unit operated on at least one working day of
    it on or after ``from_day``. So a daily record is owed for each working day the unit operated (weekends
    and holidays are not owed, though a record for them is accepted); a week or a month is owed unless every
    one of its working days fell inside a pause (停产停业 — 可暂不执行), before ``from_day``, or on or after
    the final status (注销、吊销、迁出: nothing is owed from its effective day on). A week with no working day
    at all (a week-long holiday) is not owed.
    """
    owed: list[date] = []
    for start in periods(kind, from_day, to_day):
        if period_end(kind, start) > to_day:
            break
        days = working_days_of(kind, start, overrides)
        if any(day >= from_day and operating_on(day, pauses, final_on) for day in days):
            owed.append(start)
    return owed
