"""工作日: China's official working-day calendar, as plain functions over dates (no database).

Working days follow China's official calendar (国务院办公厅节假日安排) as known to the pinned package
``chinesecalendar``: public holidays are days off, and the weekend days that are worked in lieu (调休上班) are
working days. For a year the package does not know yet, Monday to Friday count and ``calendar_known(year)`` is
False, so that callers can flag a deadline as provisional. ``data/working_days.yaml`` corrects or completes the
package (a date listed there wins); every function also takes an explicit ``overrides`` mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from functools import cache, lru_cache
from pathlib import Path

import chinese_calendar
import yaml

_OVERRIDES_FILE = Path(__file__).parent / "data" / "working_days.yaml"


@cache
def _shipped() -> tuple[dict[date, bool], frozenset[int]]:
    """The overrides and complete years of ``data/working_days.yaml``."""
    document = yaml.safe_load(_OVERRIDES_FILE.read_text(encoding="utf-8")) or {}
    days = {_as_date(key): bool(value) for key, value in (document.get("overrides") or {}).items()}
    return days, frozenset(int(year) for year in document.get("complete_years") or ())


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def shipped_overrides() -> Mapping[date, bool]:
    return _shipped()[0]


@lru_cache(maxsize=64)
def _package_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def calendar_known(year: int) -> bool:
    """Whether the official holidays of ``year`` are known (to the package, or listed complete in the
    overrides file). When not, working days are counted as Monday to Friday."""
    return _package_knows(year) or year in _shipped()[1]


@lru_cache(maxsize=8192)
def _official(day: date) -> bool:
    if _package_knows(day.year):
        return bool(chinese_calendar.is_workday(day))
    return day.weekday() < 5


def is_working_day(day: date, overrides: Mapping[date, bool] | None = None) -> bool:
    """工作日: a day worked in China (holidays off, 调休 make-up days on). ``overrides`` (date → working?)
    win over the official calendar; None means the shipped ``data/working_days.yaml``."""
    table = shipped_overrides() if overrides is None else overrides
    found = table.get(day)
    return _official(day) if found is None else found


def add_working_days(start: date, n: int, overrides: Mapping[date, bool] | None = None) -> date:
    """The ``n``-th working day after ``start`` (``start`` itself never counts; ``n == 0`` is ``start``).

    This is how "应在5个工作日内更新" is read: a change effective on day D may be recorded up to and including
    the 5th working day after D, whatever kind of day D itself is. Recorded on that day it is on time; a day
    later it is late. Example: effective 2025-09-30 → Oct 1–8 are the National Day holidays, Oct 9, 10 and
    the make-up Saturday Oct 11 count 1–3, Oct 13 and 14 count 4–5: the deadline is 2025-10-14.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    day, counted = start, 0
    while counted < n:
        day += timedelta(days=1)
        if is_working_day(day, overrides):
            counted += 1
    return day


def calendar_known_between(first: date, last: date) -> bool:
    """Whether every year from ``first`` to ``last`` is known to the official calendar."""
    return all(calendar_known(year) for year in range(first.year, last.year + 1))
