"""分类监管: the supervision class (routine / key / special) from a unit's risk signals.

Skeleton policy, from seed 001 (Shanxi) 三(三): a larger quality-safety risk found → 重点监管 (key); 3 or more
major risks within 2 years → 特别监管 (special); otherwise 无事不扰 (routine). A failed spot check is a
major risk. The windows are parameters so that the province policy packs can set them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

CLASS_ORDER = {"routine": 0, "key": 1, "special": 2}


@dataclass(frozen=True)
class Signal:
    id: str
    kind: str
    occurred_on: date


@dataclass(frozen=True)
class ClassPolicy:
    key_window_days: int = 730
    special_window_days: int = 730
    special_count: int = 3


@dataclass(frozen=True)
class ClassDecision:
    supervision_class: str
    rule: str
    text: str
    evidence: list[str] = field(default_factory=list)


ROUTINE = ClassDecision("routine", "no_risk_signal", "未发现质量安全风险，按“无事不扰”原则纳入日常监管")


def decide_class(signals: list[Signal], *, today: date, policy: ClassPolicy = ClassPolicy()) -> ClassDecision:
    """The class the signals call for on ``today``; evidence lists the signals counted, oldest first."""
    failures = sorted(
        (s for s in signals if s.kind == "spot_check_failed"), key=lambda s: (s.occurred_on, s.id)
    )
    in_special = [s for s in failures if s.occurred_on > today - timedelta(days=policy.special_window_days)]
    if len(in_special) >= policy.special_count:
        return ClassDecision(
            "special",
            f"spot_check_failed.{policy.special_count}_in_{policy.special_window_days}d",
            f"近{policy.special_window_days}日内监督抽查不合格 {len(in_special)} 次"
            f"（{policy.special_count} 次及以上），实施特别监管",
            [s.id for s in in_special],
        )
    in_key = [s for s in failures if s.occurred_on > today - timedelta(days=policy.key_window_days)]
    if in_key:
        return ClassDecision(
            "key",
            f"spot_check_failed.1_in_{policy.key_window_days}d",
            f"近{policy.key_window_days}日内监督抽查不合格 {len(in_key)} 次，发现较大质量安全风险，实施重点监管",
            [s.id for s in in_key],
        )
    return ROUTINE
