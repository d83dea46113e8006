"""工作日 and self-check periods, as plain functions over the official calendar (no database)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.common.workdays import add_working_days, calendar_known, calendar_known_between, is_working_day
from services.registry.workdays import (
    DAILY,
    MONTHLY,
    WEEKLY,
    Pause,
    owed_periods,
    parse_period,
    period_end,
    period_label,
    period_start,
    periods,
)

D = date.fromisoformat


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2025-09-26", True),  # Friday
        ("2025-09-27", False),  # Saturday
        ("2025-09-28", True),  # Sunday worked in lieu of National Day (调休上班)
        ("2025-09-30", True),
        ("2025-10-01", False),  # 国庆节、中秋节 Oct 1–8
        ("2025-10-06", False),  # Monday inside the holiday
        ("2025-10-08", False),  # Wednesday, last day off
        ("2025-10-09", True),
        ("2025-10-11", True),  # Saturday worked in lieu
        ("2025-10-12", False),  # Sunday
        ("2025-01-26", True),  # Sunday worked in lieu of Spring Festival 2025
        ("2025-01-28", False),  # 除夕
        ("2025-02-04", False),
        ("2025-02-05", True),
        ("2025-02-08", True),  # Saturday worked in lieu
        ("2026-02-14", True),  # Saturday worked in lieu of Spring Festival 2026
        ("2026-02-16", False),
        ("2026-02-23", False),
        ("2026-02-24", True),
        ("2026-09-20", True),  # Sunday worked in lieu of National Day 2026
        ("2026-09-25", False),  # 中秋节 2026 (Friday)
        ("2026-10-01", False),
        ("2026-10-07", False),
        ("2026-10-08", True),  # Thursday: National Day 2026 ends on the 7th
        ("2026-10-10", True),  # Saturday worked in lieu
        ("2026-10-11", False),
        ("2026-11-25", True),  # an ordinary Wednesday
        ("2026-11-28", False),  # an ordinary Saturday
    ],
)
def test_working_days_follow_the_official_calendar(day: str, working: bool) -> None:
    assert is_working_day(D(day)) is working


@pytest.mark.parametrize(
    ("effective", "n", "deadline"),
    [
        # An ordinary week: Mon + 5 working days is the next Monday; a Friday's deadline is the next Friday.
        ("2026-11-16", 5, "2026-11-23"),
        ("2026-11-20", 5, "2026-11-27"),
        ("2026-11-21", 5, "2026-11-27"),  # effective on a Saturday: Mon–Fri count
        ("2026-11-20", 1, "2026-11-23"),
        ("2026-11-20", 0, "2026-11-20"),
        # National Day 2025 (Oct 1–8 off; Sun Sep 28 and Sat Oct 11 worked).
        ("2025-09-26", 5, "2025-10-10"),  # Sep 28, 29, 30, Oct 9, 10
        ("2025-09-30", 5, "2025-10-14"),  # Oct 9, 10, 11 (Sat), 13, 14
        ("2025-10-01", 5, "2025-10-14"),
        ("2025-10-08", 5, "2025-10-14"),
        ("2025-10-09", 5, "2025-10-15"),  # Oct 10, 11, 13, 14, 15
        # National Day 2026 (Oct 1–7 off; Sun Sep 20 and Sat Oct 10 worked; 中秋 Sep 25–27 off).
        ("2026-09-18", 5, "2026-09-24"),  # Sep 20 (Sun), 21, 22, 23, 24
        ("2026-09-24", 5, "2026-10-09"),  # Sep 28, 29, 30, Oct 8, 9
        ("2026-09-30", 5, "2026-10-13"),  # Oct 8, 9, 10 (Sat), 12, 13
        # Spring Festival 2025 (Jan 28 – Feb 4 off; Sun Jan 26 and Sat Feb 8 worked).
        ("2025-01-24", 5, "2025-02-07"),  # Jan 26 (Sun), 27, Feb 5, 6, 7
        ("2025-01-27", 5, "2025-02-10"),  # Feb 5, 6, 7, 8 (Sat), 10
        # Spring Festival 2026 (Feb 15–23 off; Sat Feb 14 and Sat Feb 28 worked).
        ("2026-02-13", 5, "2026-02-27"),  # Feb 14 (Sat), 24, 25, 26, 27
        ("2026-02-14", 5, "2026-02-28"),  # Feb 24, 25, 26, 27, 28 (Sat)
    ],
)
def test_the_deadline_is_the_nth_working_day_after(effective: str, n: int, deadline: str) -> None:
    assert add_working_days(D(effective), n) == D(deadline)


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError):
        add_working_days(D("2026-01-05"), -1)


def test_an_unknown_year_falls_back_to_weekdays_and_says_so() -> None:
    assert calendar_known(2025) and calendar_known(2026)
    assert not calendar_known(2099)
    assert not calendar_known_between(D("2026-12-28"), D("2099-01-08"))
    # 2099-01-01 is a Thursday: without the official calendar it is a working day, the weekend is not.
    assert is_working_day(D("2099-01-01")) and not is_working_day(D("2099-01-03"))
    assert add_working_days(D("2099-01-02"), 5) == D("2099-01-09")


def test_overrides_win_over_the_package_and_the_fallback() -> None:
    overrides = {D("2099-01-01"): False, D("2099-01-03"): True, D("2025-10-08"): True}
    assert not is_working_day(D("2099-01-01"), overrides)
    assert is_working_day(D("2099-01-03"), overrides)
    assert is_working_day(D("2025-10-08"), overrides)
    # Jan 1 off, Sat Jan 3 worked: Jan 2, 3, 5, 6, 7.
    assert add_working_days(D("2098-12-31"), 5, overrides) == D("2099-01-07")
    assert add_working_days(D("2025-09-30"), 5, overrides) == D("2025-10-13")


@pytest.mark.parametrize(
    ("kind", "day", "start", "end", "label"),
    [
        (DAILY, "2026-11-25", "2026-11-25", "2026-11-25", "2026-11-25"),
        (WEEKLY, "2026-11-25", "2026-11-23", "2026-11-29", "2026-W48"),
        (WEEKLY, "2026-11-29", "2026-11-23", "2026-11-29", "2026-W48"),
        (WEEKLY, "2027-01-01", "2026-12-28", "2027-01-03", "2026-W53"),  # ISO week of the earlier year
        (WEEKLY, "2025-12-31", "2025-12-29", "2026-01-04", "2026-W01"),  # ISO week of the later year
        (MONTHLY, "2026-11-25", "2026-11-01", "2026-11-30", "2026-11"),
        (MONTHLY, "2024-02-10", "2024-02-01", "2024-02-29", "2024-02"),
        (MONTHLY, "2026-12-31", "2026-12-01", "2026-12-31", "2026-12"),
    ],
)
def test_periods_start_end_and_labels(kind: str, day: str, start: str, end: str, label: str) -> None:
    assert period_start(kind, D(day)) == D(start)
    assert period_end(kind, D(start)) == D(end)
    assert period_label(kind, D(day)) == label
    assert parse_period(kind, label) == D(start)


def test_a_week_may_be_named_by_its_monday_only() -> None:
    assert parse_period(WEEKLY, "2026-11-23") == D("2026-11-23")
    assert parse_period(WEEKLY, "2026-w48") == D("2026-11-23")
    with pytest.raises(ValueError, match="星期一"):
        parse_period(WEEKLY, "2026-11-25")


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (DAILY, "2026-11"),
        (DAILY, "2026-02-30"),
        (DAILY, "yesterday"),
        (WEEKLY, "2026-W54"),
        (WEEKLY, "2026-11"),
        (MONTHLY, "2026-13"),
        (MONTHLY, "2026-11-01"),
    ],
)
def test_a_malformed_period_is_refused_in_chinese(kind: str, text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_period(kind, text)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in str(caught.value))


def test_periods_cover_the_range() -> None:
    assert list(periods(WEEKLY, D("2026-11-04"), D("2026-11-16"))) == [
        D("2026-11-02"),
        D("2026-11-09"),
        D("2026-11-16"),
    ]
    assert list(periods(MONTHLY, D("2026-11-30"), D("2027-01-01"))) == [
        D("2026-11-01"),
        D("2026-12-01"),
        D("2027-01-01"),
    ]


def _days(first: str, last: str) -> list[date]:
    start, end = D(first), D(last)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def test_daily_records_are_owed_for_working_days_that_have_ended() -> None:
    # Mon Nov 16 … Sun Nov 22 2026: the five weekdays.
    assert owed_periods(DAILY, D("2026-11-16"), D("2026-11-22")) == _days("2026-11-16", "2026-11-20")
    # National Day week 2025: only the make-up Sunday Sep 28 and Sep 29–30; Oct 9–11 after the holiday.
    assert owed_periods(DAILY, D("2025-09-27"), D("2025-10-12")) == [
        D("2025-09-28"),
        D("2025-09-29"),
        D("2025-09-30"),
        D("2025-10-09"),
        D("2025-10-10"),
        D("2025-10-11"),
    ]


def test_a_week_or_month_is_owed_once_it_has_ended() -> None:
    assert owed_periods(WEEKLY, D("2026-11-02"), D("2026-11-21")) == [D("2026-11-02"), D("2026-11-09")]
    assert owed_periods(WEEKLY, D("2026-11-02"), D("2026-11-22")) == [
        D("2026-11-02"),
        D("2026-11-09"),
        D("2026-11-16"),
    ]
    assert owed_periods(MONTHLY, D("2026-09-15"), D("2026-11-29")) == [D("2026-09-01"), D("2026-10-01")]


def test_a_week_without_a_working_day_is_not_owed() -> None:
    # Mon Feb 16 – Sun Feb 22 2026 is all Spring Festival.
    assert owed_periods(WEEKLY, D("2026-02-09"), D("2026-03-01")) == [D("2026-02-09"), D("2026-02-23")]


def test_counting_starts_at_from_day_and_a_partly_covered_week_is_owed() -> None:
    # From Friday Nov 20: that week is owed (the Friday was a working day on or after from_day).
    assert owed_periods(WEEKLY, D("2026-11-20"), D("2026-11-29")) == [D("2026-11-16"), D("2026-11-23")]
    # From Saturday Nov 21: no working day of that week is left, so it is not owed.
    assert owed_periods(WEEKLY, D("2026-11-21"), D("2026-11-29")) == [D("2026-11-23")]
    assert owed_periods(DAILY, D("2026-11-21"), D("2026-11-24")) == [D("2026-11-23"), D("2026-11-24")]


def test_periods_inside_a_pause_are_not_owed_before_during_and_after() -> None:
    # 停产 from Wed Nov 4 to Sun Nov 15 2026, operating again from Mon Nov 16.
    pause = [Pause(D("2026-11-04"), D("2026-11-15"))]
    daily = owed_periods(DAILY, D("2026-11-02"), D("2026-11-20"), pause)
    assert daily == [D("2026-11-02"), D("2026-11-03"), *_days("2026-11-16", "2026-11-20")]
    weekly = owed_periods(WEEKLY, D("2026-11-02"), D("2026-11-22"), pause)
    # Nov 2 week: operated Mon and Tue → owed; Nov 9 week: entirely paused → not owed; Nov 16 week → owed.
    assert weekly == [D("2026-11-02"), D("2026-11-16")]
    # The month was partly operated: owed.
    assert owed_periods(MONTHLY, D("2026-11-02"), D("2026-11-30"), pause) == [D("2026-11-01")]
    # A month wholly paused (and still paused) is not owed.
    ongoing = [Pause(D("2026-09-30"), None, "business_suspended")]
    assert owed_periods(MONTHLY, D("2026-08-01"), D("2026-11-30"), ongoing) == [
        D("2026-08-01"),
        D("2026-09-01"),
    ]


def test_nothing_is_owed_from_the_final_status_on() -> None:
    owed = owed_periods(DAILY, D("2026-11-16"), D("2026-11-27"), final_on=D("2026-11-19"))
    assert owed == [D("2026-11-16"), D("2026-11-17"), D("2026-11-18")]
    # The week of the deregistration had working days before it: still owed; later weeks not.
    assert owed_periods(WEEKLY, D("2026-11-16"), D("2026-12-06"), final_on=D("2026-11-19")) == [
        D("2026-11-16")
    ]
    assert owed_periods(WEEKLY, D("2026-11-16"), D("2026-12-06"), final_on=D("2026-11-16")) == []


def test_owed_periods_use_the_overrides() -> None:
    # Declare Sat Nov 21 2026 a working day: its daily record becomes owed.
    overrides = {D("2026-11-21"): True, D("2026-11-20"): False}
    owed = owed_periods(DAILY, D("2026-11-19"), D("2026-11-22"), overrides=overrides)
    assert owed == [D("2026-11-19"), D("2026-11-21")]
