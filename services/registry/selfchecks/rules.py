"""The plain rules of the self-checks: who holds each kind, a unit's pauses and final date from its status
changes, and what it owes and misses of a kind as of a day."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from services.common.db import CHINA, as_utc
from services.registry.models import SelfCheck
from services.registry.schemas import FINAL_STATUSES, PAUSED_STATUSES
from services.registry.workdays import DAILY, KINDS, MONTHLY, WEEKLY, Pause, owed_periods, period_end

#: Who holds each self-check (两个规定): the officer checks daily, the director reviews weekly, the principal
#: chairs the monthly dispatch meeting.
MANAGER_ROLE = {DAILY: "quality_officer", WEEKLY: "quality_director", MONTHLY: "principal"}
ROLE_NAMES = {"quality_director": "质量安全总监", "quality_officer": "质量安全员", "principal": "主要负责人"}


def operating_timeline(
    initial_status: str, changes: Iterable[tuple[date, str]]
) -> tuple[list[Pause], date | None]:
    """The pauses (停产、停业) and the final date (注销、吊销、迁出) of a unit, from its status before the first
    change and its changes ``(effective_on, to_status)`` in the order they took effect. A status in force
    before the first change counts from the beginning of time."""
    if initial_status in FINAL_STATUSES:
        return [], date.min
    pauses: list[Pause] = []
    opened: tuple[date, str] | None = (
        (date.min, initial_status) if initial_status in PAUSED_STATUSES else None
    )
    for effective_on, status in changes:
        if opened is not None and (status not in PAUSED_STATUSES):
            if effective_on > opened[0]:
                pauses.append(Pause(opened[0], effective_on - timedelta(days=1), opened[1]))
            opened = None
        if status in FINAL_STATUSES:
            return pauses, effective_on
        if status in PAUSED_STATUSES and opened is None:
            opened = (effective_on, status)
    if opened is not None:
        pauses.append(Pause(opened[0], None, opened[1]))
    return pauses, None


@dataclass
class KindAssessment:
    """What one unit owes of one kind as of a day, and what it has done."""

    kind: str
    owed: list[date]
    missing: list[date]
    paused: list[date] = field(default_factory=list)
    recorded_not_owed: int = 0

    @property
    def overdue_since(self) -> date | None:
        return self.missing[0] if self.missing else None


@lru_cache(maxsize=8192)
def _owed_without_pauses(kind: str, from_day: date, last: date) -> tuple[date, ...]:
    """The duty check visits every unit; most never paused, and units entered on one day owe the same periods,
    so the calendar walk is made once per day of entry instead of once per unit."""
    return tuple(owed_periods(kind, from_day, last))


def assess(
    kind: str,
    from_day: date,
    as_of: date,
    pauses: Sequence[Pause],
    final_on: date | None,
    recorded: Collection[date],
    *,
    detailed: bool = False,
) -> KindAssessment:
    """Owed and missing periods of ``kind``: those ended before ``as_of`` (the grace: a day's record is due by
    the end of that day), counted from ``from_day``. ``detailed`` adds the periods not owed for a pause or
    the final status, and the records kept for periods not owed."""
    last = as_of - timedelta(days=1)
    if pauses or final_on is not None:
        owed = owed_periods(kind, from_day, last, pauses, final_on)
    else:  # the common case: the same answer for every unit entered on the same day
        owed = list(_owed_without_pauses(kind, from_day, last))
    missing = [start for start in owed if start not in recorded]
    result = KindAssessment(kind, owed, missing)
    if detailed:
        owed_set = set(owed)
        result.paused = [p for p in owed_periods(kind, from_day, last) if p not in owed_set]
        result.recorded_not_owed = sum(1 for start in recorded if start not in owed_set)
    return result


def beijing_date(moment: datetime) -> date:
    return as_utc(moment).astimezone(CHINA).date()


def kind_states(
    from_day: date,
    today: date,
    timeline: tuple[list[Pause], date | None],
    recorded: Mapping[str, Collection[date]],
) -> dict[str, tuple[date | None, int]]:
    pauses, final_on = timeline
    states = {}
    for kind in KINDS:
        found = assess(kind, from_day, today, pauses, final_on, recorded.get(kind, ()))
        states[kind] = (found.overdue_since, len(found.missing))
    return states


def is_owed(record: SelfCheck, timeline: tuple[list[Pause], date | None]) -> bool:
    """Whether the period of ``record`` is one the unit owed (not during a pause, nor after the final date)."""
    end = period_end(record.kind, record.period_start)
    return bool(owed_periods(record.kind, record.period_start, end, *timeline))
