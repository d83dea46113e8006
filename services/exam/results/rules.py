"""The rules of exam results as plain functions over plain data: what the published list (公布名单) shows,
which results are the current ones, when a unit is summoned (约谈, the pack's 多次), when its rectification
(督促整改) is due, and the month's figures of the statistics table (003 附件5)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from services.exam.service import mask_name

RESULT_NAMES = {"qualified": "合格", "failed": "不合格"}
ROLE_NAMES = {"quality_director": "质量安全总监", "quality_officer": "质量安全员"}


@dataclass(frozen=True)
class ListedResult:
    """One row of a plan's published list, before masking: what the bureau publishes and nothing more."""

    result_id: str
    name: str
    enterprise_name: str
    role: str
    result: str
    score: float
    max_score: float


def published_row(row: ListedResult) -> dict[str, object]:
    """公布名单的一行: the name masked, the unit, the post, 合格/不合格 and the score; never an ID number (none
    reaches exam) nor the unmasked name."""
    return {
        "result_id": row.result_id,
        "name_masked": mask_name(row.name),
        "enterprise_name": row.enterprise_name,
        "role": row.role,
        "role_name": ROLE_NAMES.get(row.role, row.role),
        "result": row.result,
        "result_name": RESULT_NAMES[row.result],
        "score": row.score,
        "max_score": row.max_score,
    }


# ----------------------------------------------------------------------------------------- current results


@dataclass(frozen=True)
class ResultRow:
    """What the rules need of a stored result."""

    id: str
    sitting_id: str
    enterprise_id: str
    manager_id: str
    result: str  # qualified | failed
    status: str  # pending | published | superseded
    published_on: date | None = None
    correction_of: str | None = None
    created_order: int = 0  # a later row of one sitting replaces an earlier one


def current_results(rows: Iterable[ResultRow]) -> list[ResultRow]:
    """The result each sitting stands at: its latest row that is not superseded (a correction supersedes the
    row it corrects; a pending row is a sitting's result until it is published)."""
    latest: dict[str, ResultRow] = {}
    for row in rows:
        if row.status == "superseded":
            continue
        held = latest.get(row.sitting_id)
        if held is None or row.created_order > held.created_order:
            latest[row.sitting_id] = row
    return sorted(latest.values(), key=lambda r: r.id)


def origin_of(result_id: str, corrects: dict[str, str | None]) -> str:
    """The first result of a chain of corrections (阅卷更正): the one a sitting was first published with."""
    seen = {result_id}
    while (earlier := corrects.get(result_id)) is not None and earlier not in seen:
        seen.add(earlier)
        result_id = earlier
    return result_id


# ---------------------------------------------------------------------------------- 多次考核不合格 → 约谈


@dataclass(frozen=True)
class SummonsDue:
    enterprise_id: str
    result_ids: tuple[str, ...]
    failures: int  # failed published results of the unit within the window
    reason: str


def summons_due(
    enterprise_id: str,
    results: Sequence[ResultRow],
    summoned_for: Iterable[str],
    *,
    repeated_failures: int,
    within_days: int,
    today: date,
) -> SummonsDue | None:
    """约谈 a unit whose managers failed repeatedly (seed 001 三(七): 多次考核不合格的，约谈单位).

    The failures counted are the unit's current published failed results published within ``within_days`` up
    to ``today``. A summons answers the failures it names: one is due when the failures no summons has
    answered yet reach ``repeated_failures`` (once per crossing; a unit already summoned for these results is
    not summoned again). A failure corrected into another failure keeps the summons its first result had."""
    corrects = {r.id: r.correction_of for r in results}
    answered = {origin_of(rid, corrects) for rid in summoned_for}
    since = today - timedelta(days=within_days)
    failed = [
        r
        for r in current_results(results)
        if r.enterprise_id == enterprise_id
        and r.status == "published"
        and r.result == "failed"
        and r.published_on is not None
        and since < r.published_on <= today
    ]
    fresh = [r for r in failed if origin_of(r.id, corrects) not in answered]
    if len(fresh) < repeated_failures:
        return None
    reason = (
        f"近{within_days}日内质量安全管理人员考核不合格 {len(failed)} 人次"
        f"（达到“多次”标准 {repeated_failures} 次），约谈单位主要负责人"
    )
    return SummonsDue(enterprise_id, tuple(sorted(r.id for r in fresh)), len(failed), reason)


def rectification_due_on(opened_on: date, rectification_days: int) -> date:
    """督促整改的期限: the pack's rectification_days, in calendar days from the day it was opened."""
    return opened_on + timedelta(days=rectification_days)


def is_overdue(status: str, due_on: date, today: date) -> bool:
    return status == "open" and due_on < today


# ------------------------------------------------------------------------------------ 附件5 monthly counts


@dataclass(frozen=True)
class MonthFigures:
    region_code: str
    production_persons: int  # 考核生产单位质量安全管理人员（人次）
    sales_persons: int  # 考核销售单位质量安全管理人员（人次）
    rectified_units: int  # 督促考核不合格单位整改（家次）


def month_bounds(month: str) -> tuple[date, date]:
    """``YYYY-MM`` → its first day and the first day of the next month."""
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return first, following


def monthly_counts(examined: Iterable[tuple[str, str]], rectifications: Iterable[str]) -> list[MonthFigures]:
    """The month's figures per region: ``examined`` one (region, kind) per sitting result first published that
    month (a correction is not a second 人次), ``rectifications`` one region per rectification opened."""
    persons: dict[str, dict[str, int]] = defaultdict(lambda: {"production": 0, "sales": 0})
    for region, kind in examined:
        persons[region][kind] += 1
    units: dict[str, int] = defaultdict(int)
    for region in rectifications:
        units[region] += 1
    return [
        MonthFigures(
            region,
            persons[region]["production"] if region in persons else 0,
            persons[region]["sales"] if region in persons else 0,
            units.get(region, 0),
        )
        for region in sorted(set(persons) | set(units))
    ]
