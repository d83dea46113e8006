"""Every edge of seed 003 附件1's three size tables, as shipped in the policy packs, under both combination rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.policy import TIERS, CombinationRule, Pack, Thresholds, load_packs
from services.grading.tiering import assign_tier

PACKS = load_packs()

# 附件1: 大型生产单位 X≥1000 或 Y≥40000 … 小型零售单位 10≤X<50 或 100≤Y<500 (lower bounds of A, B, C).
SEED_TABLES: dict[str, tuple[tuple[int, int, int], tuple[float, float, float]]] = {
    "production": ((1000, 300, 20), (40000, 2000, 300)),
    "wholesale": ((200, 20, 5), (40000, 5000, 1000)),
    "retail": ((300, 50, 10), (20000, 500, 100)),
}
#: (kind, sales_channel) of a unit that each table sizes.
UNIT_OF_TABLE = {
    "production": ("production", None),
    "wholesale": ("sales", "wholesale"),
    "retail": ("sales", "retail"),
}
RULE_OF_PACK = {
    "national": CombinationRule.both_indicators,
    "shanxi": CombinationRule.both_indicators,
    "jiangsu": CombinationRule.both_indicators,
    "hunan": CombinationRule.both_indicators,
    "shanghai": CombinationRule.highest,
}
RULES = list(CombinationRule)


def _table(pack: Pack, name: str) -> Thresholds:
    kind, channel = UNIT_OF_TABLE[name]
    return pack.tiers.table(kind, channel)


def _rank(tier: str) -> int:
    """0 for A (large) … 3 for D (micro): a lower rank is a higher tier."""
    return TIERS.index(tier)


def _tier_by_definition(table: Thresholds, employees: float, revenue: float, rule: CombinationRule) -> str:
    """The tier read straight off the wording: the highest class whose bounds the unit reaches —
    either bound under 附件1 说明3, both under the statistics bureau's rule."""
    for tier, employees_bound, revenue_bound in zip(
        "ABC", table.employees, table.revenue_wan_yuan, strict=True
    ):
        reached = (employees >= employees_bound, revenue >= revenue_bound)
        if any(reached) if rule is CombinationRule.highest else all(reached):
            return tier
    return "D"


# ------------------------------------------------------------------------------------------ the shipped tables


def test_the_shipped_packs_are_these() -> None:
    assert set(PACKS.packs) == set(RULE_OF_PACK)


@pytest.mark.parametrize("pack_name", sorted(RULE_OF_PACK))
def test_every_pack_has_the_seed_tables(pack_name: str) -> None:
    pack = PACKS.packs[pack_name]
    for name, (employees, revenue) in SEED_TABLES.items():
        table = _table(pack, name)
        assert (table.table, table.employees, table.revenue_wan_yuan) == (name, employees, revenue)


@pytest.mark.parametrize(("pack_name", "rule"), sorted(RULE_OF_PACK.items()))
def test_every_pack_combines_the_indicators_by_its_rule(pack_name: str, rule: CombinationRule) -> None:
    assert PACKS.packs[pack_name].tiers.combination_rule is rule


# ------------------------------------------------------------------------------------------------ the edges


def _edges(table: Thresholds, rule: CombinationRule) -> list[tuple[int, float, str]]:
    """(employees, revenue, expected tier) at and just below each lower bound of each indicator.

    The other indicator is held where it cannot decide: at zero (D) when the higher tier wins, at its A bound
    when both must be reached — so only the edge under test moves the tier.
    """
    if rule is CombinationRule.highest:
        neutral_employees, neutral_revenue = 0, 0.0
    else:
        neutral_employees, neutral_revenue = table.employees[0], table.revenue_wan_yuan[0]
    cases: list[tuple[int, float, str]] = []
    for tier, lower_tier, bound in zip("ABC", "BCD", table.employees, strict=True):
        cases.append((bound, neutral_revenue, tier))
        cases.append((bound - 1, neutral_revenue, lower_tier))
    for tier, lower_tier, bound in zip("ABC", "BCD", table.revenue_wan_yuan, strict=True):
        cases.append((neutral_employees, bound, tier))
        cases.append((neutral_employees, round(bound - 0.01, 2), lower_tier))
    return cases


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("table_name", list(SEED_TABLES))
@pytest.mark.parametrize("pack_name", sorted(RULE_OF_PACK))
def test_every_edge_of_every_table(pack_name: str, table_name: str, rule: CombinationRule) -> None:
    table = _table(PACKS.packs[pack_name], table_name)
    edges = _edges(table, rule)
    assert len(edges) == 12
    for employees, revenue, expected in edges:
        decision = assign_tier(table, employees, revenue, rule)
        assert decision.tier == expected, (employees, revenue, decision.reason)
        assert decision.rule == f"size.{table_name}.{rule.value}"


@pytest.mark.parametrize("table_name", list(SEED_TABLES))
def test_the_higher_tier_wins_under_baoshan_but_not_under_the_statistics_rule(table_name: str) -> None:
    table = _table(PACKS.default, table_name)
    (employees_a, _, employees_c), (revenue_a, revenue_b, _) = table.employees, table.revenue_wan_yuan
    # One indicator large, the other micro: 附件1 说明3 gives A, the statistics rule D.
    assert assign_tier(table, 0, revenue_a, CombinationRule.highest).tier == "A"
    assert assign_tier(table, employees_a, 0, CombinationRule.highest).tier == "A"
    assert assign_tier(table, 0, revenue_a, CombinationRule.both_indicators).tier == "D"
    assert assign_tier(table, employees_a, 0, CombinationRule.both_indicators).tier == "D"
    # Small by employees, medium by revenue.
    assert assign_tier(table, employees_c, revenue_b, CombinationRule.highest).tier == "B"
    assert assign_tier(table, employees_c, revenue_b, CombinationRule.both_indicators).tier == "C"


def test_the_statistics_bureau_example() -> None:
    # DOMAIN_FACTS.md: production, X=1500, Y=10000 → statistics rule B, Baoshan rule A.
    table = _table(PACKS.default, "production")
    statistics = assign_tier(table, 1500, 10000, CombinationRule.both_indicators)
    assert statistics.tier == "B"
    assert statistics.rule == "size.production.both_indicators"
    assert "从业人员 1500 人（A级）" in statistics.reason
    assert "营业收入 10000 万元（B级）" in statistics.reason
    assert statistics.reason.endswith("B级（中型）")
    assert assign_tier(table, 1500, 10000, CombinationRule.highest).tier == "A"


@pytest.mark.parametrize(
    ("region", "tier"), [("141121", "B"), ("320100", "B"), ("430100", "B"), ("360100", "B"), ("310113", "A")]
)
def test_the_statistics_example_under_each_regions_own_rule(region: str, tier: str) -> None:
    pack = PACKS.for_region(region)
    decision = assign_tier(_table(pack, "production"), 1500, 10000, pack.tiers.combination_rule)
    assert decision.tier == tier


@pytest.mark.parametrize("channel", [None, "online", ""])
def test_a_sales_unit_without_a_known_channel_has_no_table(channel: str | None) -> None:
    for pack in PACKS.packs.values():
        with pytest.raises(ValueError, match="no size table"):
            pack.tiers.table("sales", channel)


# ------------------------------------------------------------------------------------------------ properties

_ALL_EMPLOYEE_BOUNDS = sorted({b for employees, _ in SEED_TABLES.values() for b in employees})
_ALL_REVENUE_BOUNDS = sorted({b for _, revenue in SEED_TABLES.values() for b in revenue})
# Random sizes rarely land on a bound, so the bounds and their neighbours are drawn often as well.
employee_counts = st.one_of(
    st.integers(min_value=0, max_value=5000),
    st.sampled_from([b + d for b in _ALL_EMPLOYEE_BOUNDS for d in (-1, 0, 1)]),
)
revenues = st.one_of(
    st.floats(min_value=0, max_value=200_000, allow_nan=False, allow_infinity=False),
    st.sampled_from([round(b + d, 2) for b in _ALL_REVENUE_BOUNDS for d in (-0.01, 0, 0.01)]),
)
tables = st.sampled_from(list(SEED_TABLES)).map(lambda name: _table(PACKS.default, name))
rules = st.sampled_from(RULES)
FAST = settings(max_examples=200, deadline=None)


@FAST
@given(table=tables, employees=employee_counts, revenue=revenues, rule=rules)
def test_the_tier_is_the_one_the_definitions_give(
    table: Thresholds, employees: int, revenue: float, rule: CombinationRule
) -> None:
    assert assign_tier(table, employees, revenue, rule).tier == _tier_by_definition(
        table, employees, revenue, rule
    )


@FAST
@given(table=tables, employees=employee_counts, revenue=revenues)
def test_the_highest_rule_never_gives_a_lower_tier_than_the_statistics_rule(
    table: Thresholds, employees: int, revenue: float
) -> None:
    highest = assign_tier(table, employees, revenue, CombinationRule.highest).tier
    both = assign_tier(table, employees, revenue, CombinationRule.both_indicators).tier
    assert _rank(highest) <= _rank(both)


@FAST
@given(
    table=tables,
    employees=st.tuples(employee_counts, employee_counts).map(sorted),
    revenue=st.tuples(revenues, revenues).map(sorted),
    rule=rules,
)
def test_a_larger_unit_is_never_in_a_lower_tier(
    table: Thresholds, employees: list[int], revenue: list[float], rule: CombinationRule
) -> None:
    fewer, more = employees
    less, greater = revenue
    base = _rank(assign_tier(table, fewer, less, rule).tier)
    assert _rank(assign_tier(table, more, less, rule).tier) <= base
    assert _rank(assign_tier(table, fewer, greater, rule).tier) <= base
    assert _rank(assign_tier(table, more, greater, rule).tier) <= base
