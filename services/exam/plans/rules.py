"""What a plan needs of the bank (plain functions): whether the visible, active questions can fill the plan's
blueprint for every role × kind it examines.

A question applies to a sampled person when it is for their role and their unit's kind, and is general (no
product field) or names one of their unit's fields. The plan's people are of units with at least one of the
plan's fields (or any unit, when the plan names none), so a question counts towards the plan only when it is
general, or names every one of the plan's fields: then it applies to each person the plan can draw."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.common.policy import BlueprintItem
from services.exam.bank.rules import CATEGORY_NAMES, KIND_NAMES, ROLE_NAMES, TYPE_NAMES


@dataclass(frozen=True)
class BankGroup:
    """So many active questions sharing a category, a type, roles, kinds and product fields."""

    category: str
    type: str
    for_director: bool
    for_officer: bool
    for_production: bool
    for_sales: bool
    product_categories: str  # JSON list
    count: int


@dataclass(frozen=True)
class Shortfall:
    role: str
    kind: str
    category: str
    type: str
    needed: int
    available: int

    def message(self) -> str:
        return (
            f"{ROLE_NAMES[self.role]}（{KIND_NAMES[self.kind]}）的{CATEGORY_NAMES[self.category]}"
            f"{TYPE_NAMES[self.type]}需 {self.needed} 道，题库中可用 {self.available} 道"
        )

    def public(self) -> dict[str, object]:
        return {
            "field": "blueprint",
            "code": "EXAM_BLUEPRINT_UNFILLABLE",
            "message": self.message(),
            "role": self.role,
            "kind": self.kind,
            "category": self.category,
            "type": self.type,
            "needed": self.needed,
            "available": self.available,
        }


def _applies(group: BankGroup, role: str, kind: str, plan_categories: frozenset[str]) -> bool:
    if not (group.for_director if role == "quality_director" else group.for_officer):
        return False
    if not (group.for_production if kind == "production" else group.for_sales):
        return False
    fields = set(json.loads(group.product_categories))
    return not fields or (bool(plan_categories) and plan_categories <= fields)


def shortfalls(
    blueprint: Sequence[BlueprintItem],
    bank: Iterable[BankGroup],
    *,
    roles: Sequence[str],
    kinds: Sequence[str],
    product_categories: Sequence[str],
) -> list[Shortfall]:
    """Every role × kind × category × type the bank cannot fill (empty: the plan can be examined)."""
    needed: dict[tuple[str, str], int] = {}
    for item in blueprint:
        needed[(item.category, item.type)] = needed.get((item.category, item.type), 0) + item.count
    groups = list(bank)
    plan_categories = frozenset(product_categories)
    found = []
    for role in ROLE_NAMES:
        for kind in KIND_NAMES:
            if role not in roles or kind not in kinds:
                continue
            for (category, type_), count in needed.items():
                available = sum(
                    g.count
                    for g in groups
                    if g.category == category and g.type == type_ and _applies(g, role, kind, plan_categories)
                )
                if available < count:
                    found.append(Shortfall(role, kind, category, type_, count, available))
    return found
