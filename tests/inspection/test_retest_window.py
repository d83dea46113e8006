"""复检申请期限 as a plain rule: 15 days from receipt, the day of receipt not counted (民法典 第二百零一条), a last
day off moved to the next working day (第二百零三条)."""

from __future__ import annotations

from datetime import date

import pytest

from services.inspection.followup import retest_last_day


@pytest.mark.parametrize(
    ("received_on", "last_day"),
    [
        ("2025-11-03", "2025-11-18"),  # a Tuesday: received_on + 15
        ("2025-11-07", "2025-11-24"),  # day 15 is a Saturday: the Monday after
        ("2025-09-16", "2025-10-09"),  # day 15 is National Day: after the holidays of Oct 1–8
        ("2025-09-26", "2025-10-11"),  # day 15 is the make-up Saturday, a working day: kept
    ],
)
def test_the_retest_window_ends_on_a_working_day(received_on: str, last_day: str) -> None:
    assert retest_last_day(date.fromisoformat(received_on), 15) == date.fromisoformat(last_day)
