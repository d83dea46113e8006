"""抽取考核对象: the verifiable random choice of the managers a plan examines (plain functions, no database).

A draw's recorded inputs are one JSON object, published with the result (``GET /plans/{id}/draws``)::

    {"algorithm": "sha256-rank-v1", "seed": "…", "purpose": "managers",
     "pool": ["<manager id>", …],                       # sorted, unique: who could be drawn
     "excluded": [{"manager_id": …, "reason": "examined_within_months", "submitted_on": "2026-05-02"}, …],
     "count": 3, "count_rule": {"sample_count": 5, "capped": true} | {"sample_ratio": 0.1},
     "criteria": {"organiser_region": …, "roles": […], "kinds": […], "product_categories": […],
                  "exclude_examined_within_months": 12, "examined_since": "2025-12-01",
                  "period_start": …, "period_end": …}}

``inputs_sha256`` is the SHA-256 of its canonical JSON (keys sorted, no spaces, UTF-8). Anyone can re-run the
draw with nothing but Python's standard library::

    import hashlib, hmac, json
    canonical = json.dumps(inputs, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert hashlib.sha256(canonical.encode()).hexdigest() == inputs_sha256
    key = lambda m: hmac.new(inputs["seed"].encode(), f"managers\\x00{m}".encode(), hashlib.sha256).hexdigest()
    drawn = sorted(inputs["pool"], key=lambda m: (key(m), m))[: inputs["count"]]

An excluded person is never in the pool, so never drawn. ``count`` is the plan's ``sample_count`` capped at
the pool's size (``capped`` says when it was), or ``draw_count(sample_ratio, len(pool))``: a ratio rounded up
in decimal, so any ratio above 0 draws at least one person when there is one.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.common import draw

PURPOSE = "managers"
EXAMINED = "examined_within_months"  # the one reason a pooled manager is excluded (the barred never pool)


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (the month's last day when it has no such day)."""
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def sample_size(
    sample_count: int | None, sample_ratio: float | None, pool: int
) -> tuple[int, dict[str, Any]]:
    """How many of ``pool`` the plan draws, and the rule that said so (recorded with the inputs)."""
    if (sample_count is None) == (sample_ratio is None):
        raise ValueError("exactly one of sample_count and sample_ratio")
    if sample_count is not None:
        return min(sample_count, pool), {"sample_count": sample_count, "capped": sample_count > pool}
    assert sample_ratio is not None
    return draw.draw_count(sample_ratio, pool), {"sample_ratio": sample_ratio}


def split_pool(
    eligible: Iterable[str], examined_on: Mapping[str, date]
) -> tuple[list[str], list[dict[str, str]]]:
    """The pool (sorted, unique) and the excluded (sorted by id, with why): a manager examined within the
    plan's window (``examined_on``: their latest submitted sitting's Beijing day) is left out."""
    pool, excluded = [], []
    for manager_id in sorted(set(eligible)):
        if manager_id in examined_on:
            excluded.append(
                {
                    "manager_id": manager_id,
                    "reason": EXAMINED,
                    "submitted_on": examined_on[manager_id].isoformat(),
                }
            )
        else:
            pool.append(manager_id)
    return pool, excluded


@dataclass(frozen=True)
class Criteria:
    """What the plan asks for, recorded with the draw so that a reader knows who could have been drawn."""

    organiser_region: str
    roles: tuple[str, ...]
    kinds: tuple[str, ...]
    product_categories: tuple[str, ...]
    exclude_examined_within_months: int
    period_start: date
    period_end: date

    @property
    def examined_since(self) -> date:
        return months_before(self.period_start, self.exclude_examined_within_months)

    def record(self) -> dict[str, Any]:
        return {
            "organiser_region": self.organiser_region,
            "roles": sorted(self.roles),
            "kinds": sorted(self.kinds),
            "product_categories": sorted(self.product_categories),
            "exclude_examined_within_months": self.exclude_examined_within_months,
            "examined_since": self.examined_since.isoformat(),
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
        }


def build_inputs(
    *,
    seed: str,
    criteria: Criteria,
    eligible: Iterable[str],
    examined_on: Mapping[str, date],
    sample_count: int | None,
    sample_ratio: float | None,
) -> dict[str, Any]:
    """The recorded inputs of a draw (see the module's docstring)."""
    pool, excluded = split_pool(eligible, examined_on)
    count, rule = sample_size(sample_count, sample_ratio, len(pool))
    return {
        "algorithm": draw.ALGORITHM,
        "seed": seed,
        "purpose": PURPOSE,
        "pool": pool,
        "excluded": excluded,
        "count": count,
        "count_rule": rule,
        "criteria": criteria.record(),
    }


def run(inputs: Mapping[str, Any]) -> list[str]:
    """The drawn managers in draw order: ``rank(seed, "managers", pool)[:count]``."""
    if inputs["algorithm"] != draw.ALGORITHM:
        raise ValueError(f"unknown algorithm {inputs['algorithm']!r}")
    return draw.rank(inputs["seed"], inputs["purpose"], inputs["pool"])[: inputs["count"]]


def canonical(inputs: Mapping[str, Any]) -> str:
    return json.dumps(inputs, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def digest(inputs: Mapping[str, Any]) -> str:
    return draw.canonical_digest(inputs)


@dataclass(frozen=True)
class Verification:
    digest_matches: bool
    result_matches: bool
    consistent: bool  # pool sorted and unique, none excluded in it, count follows its rule
    recomputed: list[str]


def verify(recorded_inputs: str, recorded_sha256: str, recorded_drawn: list[str]) -> Verification:
    """Re-run a draw from its recorded (canonical JSON) inputs and compare with what was recorded."""
    try:
        inputs = json.loads(recorded_inputs)
        recomputed = run(inputs)
    except (KeyError, TypeError, ValueError):
        return Verification(False, False, False, [])
    pool = inputs["pool"]
    excluded = {item["manager_id"] for item in inputs["excluded"]}
    rule = inputs["count_rule"]
    try:
        expected, _ = sample_size(rule.get("sample_count"), rule.get("sample_ratio"), len(pool))
    except ValueError:
        expected = -1
    consistent = pool == sorted(set(pool)) and not excluded & set(pool) and expected == inputs["count"]
    return Verification(
        digest_matches=digest(inputs) == recorded_sha256 and canonical(inputs) == recorded_inputs,
        result_matches=recomputed == recorded_drawn,
        consistent=consistent,
        recomputed=recomputed,
    )
