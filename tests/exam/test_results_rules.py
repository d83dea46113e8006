"""The pure rules of results: current results, the 多次 rule (once per crossing), due dates, counts (scoring is the sittings' own)."""

from __future__ import annotations

from datetime import date, timedelta

from services.exam.results import rules
from services.exam.results.rules import ResultRow

DAY = date(2026, 12, 3)


def failed(rid: str, days_ago: int = 0, unit: str = "u1", **fields: object) -> ResultRow:
    return ResultRow(
        id=rid,
        sitting_id=fields.pop("sitting", rid),  # type: ignore[arg-type]
        enterprise_id=unit,
        manager_id=f"m-{rid}",
        result=fields.pop("result", "failed"),  # type: ignore[arg-type]
        status=fields.pop("status", "published"),  # type: ignore[arg-type]
        published_on=DAY - timedelta(days=days_ago),
        **fields,  # type: ignore[arg-type]
    )


def due(results: list[ResultRow], summoned: set[str] = frozenset(), n: int = 2) -> rules.SummonsDue | None:  # type: ignore[assignment]
    return rules.summons_due("u1", results, summoned, repeated_failures=n, within_days=730, today=DAY)


def test_a_unit_is_summoned_once_per_crossing_of_the_repeated_failures() -> None:
    assert due([failed("r1")]) is None
    first = due([failed("r1"), failed("r2", 10)])
    assert first is not None and first.result_ids == ("r1", "r2") and first.failures == 2
    assert "约谈" in first.reason
    assert due([failed("r1"), failed("r2"), failed("r3")], {"r1", "r2"}) is None
    again = due([failed("r1"), failed("r2"), failed("r3"), failed("r4")], {"r1", "r2"})
    assert again is not None and again.result_ids == ("r3", "r4") and again.failures == 4


def test_only_current_published_failures_within_the_window_of_the_unit_count() -> None:
    assert due([failed("r1"), failed("r2", 730)]) is None  # outside the 730 days
    assert due([failed("r1"), failed("r2", status="pending")]) is None
    assert due([failed("r1"), failed("r2", result="qualified")]) is None
    assert due([failed("r1"), failed("r2", unit="u2")]) is None
    superseded = failed("r2", status="superseded")
    passed = failed("r2b", sitting="r2", result="qualified", correction_of="r2", created_order=1)
    assert due([failed("r1"), superseded, passed]) is None
    assert due([failed("r1"), failed("r2")], n=3) is None


def test_a_failure_corrected_into_a_failure_keeps_its_summons() -> None:
    chain = [
        failed("r1"),
        failed("r2", status="superseded"),
        failed("r2b", sitting="r2", correction_of="r2", created_order=1),
    ]
    assert due(chain, {"r1", "r2"}) is None
    assert rules.origin_of("r2b", {"r2b": "r2", "r2": None}) == "r2"


def test_current_results_are_the_latest_not_superseded_row_of_each_sitting() -> None:
    rows = [
        failed("a", sitting="s1", status="superseded"),
        failed("b", sitting="s1", correction_of="a", created_order=2),
        failed("c", sitting="s2", status="pending", created_order=1),
    ]
    assert [r.id for r in rules.current_results(rows)] == ["b", "c"]


def test_rectification_due_and_overdue() -> None:
    assert rules.rectification_due_on(DAY, 30) == date(2027, 1, 2)
    assert rules.is_overdue("open", DAY - timedelta(days=1), DAY)
    assert not rules.is_overdue("open", DAY, DAY) and not rules.is_overdue("done", date(2020, 1, 1), DAY)


def test_the_published_row_masks_the_name() -> None:
    row = rules.published_row(
        rules.ListedResult("r", "欧阳修", "某公司", "quality_officer", "failed", 40, 100)
    )
    assert (row["name_masked"], row["role_name"], row["result_name"]) == ("欧**", "质量安全员", "不合格")
    assert "欧阳修" not in str(row)


def test_monthly_counts_per_region() -> None:
    assert rules.month_bounds("2026-12") == (date(2026, 12, 1), date(2027, 1, 1))
    figures = rules.monthly_counts(
        [("141121", "production"), ("141121", "sales"), ("141121", "production"), ("141122", "sales")],
        ["141121", "141123"],
    )
    assert [(f.region_code, f.production_persons, f.sales_persons, f.rectified_units) for f in figures] == [
        ("141121", 2, 1, 1),
        ("141122", 0, 1, 0),
        ("141123", 0, 0, 1),
    ]
