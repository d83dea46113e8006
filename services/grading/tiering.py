"""分层分级: tiers A–D by size, from seed 003 附件1 (《工业产品生产和销售单位划分标准》).

X is 从业人员 (employees), Y is 营业收入 in 万元 (revenue_wan_yuan). Each table gives the lower bounds of
A (large), B (medium) and C (small); below C is D (micro, incl. 个体工商户). The tables themselves live in
the province policy packs (services/common/policy/packs/*.yaml), whose schema also defines
CombinationRule, Thresholds and TIERS.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.policy import TIERS, CombinationRule, Thresholds

TIER_NAMES = {"A": "大型", "B": "中型", "C": "小型", "D": "微型"}


def _tier_by(value: float, bounds: tuple[float, float, float]) -> int:
    """Index into TIERS of the highest tier whose lower bound ``value`` reaches."""
    for index, bound in enumerate(bounds):
        if value >= bound:
            return index
    return 3


@dataclass(frozen=True)
class TierDecision:
    tier: str
    rule: str
    reason: str


def assign_tier(
    table: Thresholds, employees: int, revenue_wan_yuan: float, rule: CombinationRule
) -> TierDecision:
    """The tier of a unit of this size under one size table, with the rule and a reason in Chinese."""
    by_employees = _tier_by(employees, table.employees)
    by_revenue = _tier_by(revenue_wan_yuan, table.revenue_wan_yuan)
    if CombinationRule(rule) == CombinationRule.highest:
        index = min(by_employees, by_revenue)
        how = "按较高等级确定"
    else:
        # Both indicators must reach a class for A–C; micro needs only one.
        index = max(by_employees, by_revenue)
        how = "两项指标须同时达到"
    tier = TIERS[index]
    reason = (
        f"{table.title}：从业人员 {employees} 人（{TIERS[by_employees]}级），"
        f"营业收入 {revenue_wan_yuan:g} 万元（{TIERS[by_revenue]}级），{how} → {tier}级（{TIER_NAMES[tier]}）"
    )
    return TierDecision(tier=tier, rule=f"size.{table.table}.{rule.value}", reason=reason)
