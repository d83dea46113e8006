"""Every edge of seed 003 附件1's three tables, under the highest-class rule of its 说明3."""

import pytest

from services.grading.tiering import PRODUCTION, RETAIL, WHOLESALE, CombinationRule, Thresholds, assign_tier

TABLES = [("production", None, PRODUCTION), ("sales", "wholesale", WHOLESALE), ("sales", "retail", RETAIL)]


def test_the_tables_are_those_of_the_seed() -> None:
    # 附件1: 大型生产单位 X≥1000 或 Y≥40000 … 小型零售单位 10≤X<50 或 100≤Y<500
    assert (PRODUCTION.employees, PRODUCTION.revenue_wan_yuan) == ((1000, 300, 20), (40000, 2000, 300))
    assert (WHOLESALE.employees, WHOLESALE.revenue_wan_yuan) == ((200, 20, 5), (40000, 5000, 1000))
    assert (RETAIL.employees, RETAIL.revenue_wan_yuan) == ((300, 50, 10), (20000, 500, 100))


def _edges(table: Thresholds) -> list[tuple[str, int | float, str]]:
    """(indicator, value, expected tier) at and just below each lower bound, the other indicator at zero."""
    cases: list[tuple[str, int | float, str]] = []
    for indicator, bounds, step in (
        ("employees", table.employees, 1),
        ("revenue", table.revenue_wan_yuan, 0.01),
    ):
        for tier, lower_tier, bound in zip("ABC", "BCD", bounds, strict=True):
            cases.append((indicator, bound, tier))
            cases.append((indicator, round(bound - step, 2), lower_tier))
    return cases


@pytest.mark.parametrize(("kind", "channel", "table"), TABLES, ids=[t[2].table for t in TABLES])
def test_every_edge_by_one_indicator(kind: str, channel: str | None, table: Thresholds) -> None:
    for indicator, value, expected in _edges(table):
        employees, revenue = (int(value), 0.0) if indicator == "employees" else (0, float(value))
        assert assign_tier(kind, channel, employees, revenue).tier == expected, (indicator, value)


@pytest.mark.parametrize(("kind", "channel", "table"), TABLES, ids=[t[2].table for t in TABLES])
def test_a_unit_takes_the_highest_class_either_indicator_reaches(
    kind: str, channel: str | None, table: Thresholds
) -> None:
    # employees say D, revenue says A → A (附件1 说明3)
    assert assign_tier(kind, channel, 0, table.revenue_wan_yuan[0]).tier == "A"
    assert assign_tier(kind, channel, table.employees[0], 0).tier == "A"
    assert assign_tier(kind, channel, table.employees[2], table.revenue_wan_yuan[1]).tier == "B"


def test_the_walking_skeleton_example_is_small() -> None:
    decision = assign_tier("production", None, 25, 1500)
    assert decision.tier == "C"
    assert decision.rule == "size.production.highest"
    assert "从业人员 25 人" in decision.reason and "C级" in decision.reason


def test_the_statistics_rule_needs_both_indicators() -> None:
    # DOMAIN_FACTS.md: production, X=1500, Y=10000 → statistics rule B, Baoshan rule A
    assert assign_tier("production", None, 1500, 10000, CombinationRule.both_indicators).tier == "B"
    assert assign_tier("production", None, 1500, 10000, CombinationRule.highest).tier == "A"
    assert assign_tier("production", None, 5, 100000, CombinationRule.both_indicators).tier == "D"


def test_a_sales_unit_without_a_channel_has_no_table() -> None:
    with pytest.raises(ValueError):
        assign_tier("sales", None, 10, 10)
