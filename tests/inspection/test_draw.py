"""双随机 draw (sha256-rank-v1) and the half-year visit rule: pure functions, no database."""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections import Counter
from datetime import date

import pytest

from services.common import draw as common_draw
from services.inspection import draw
from services.inspection.draw import DrawInputs, RosterEntry

UNITS = tuple(f"unit-{n:02d}" for n in range(40))
ROSTER = (
    RosterEntry("li", "141121"),
    RosterEntry("wang", "141121"),
    RosterEntry("zhang", "141121001"),
    RosterEntry("zhao", "141121002"),
    RosterEntry("chen", "141121"),
)


def inputs(seed: str = "2026118-03-17-22", **changes: object) -> DrawInputs:
    fields: dict[str, object] = {
        "seed": seed,
        "jurisdiction": "141121",
        "candidates": UNITS,
        "count": 8,
        "must_visit": ("locked-1", "key-1"),
        "roster": ROSTER,
        "responsible": {"locked-1": "li", "unit-03": "wang"},
    }
    fields.update(changes)
    return DrawInputs(**fields)  # type: ignore[arg-type]


def reference_rank(seed: str, purpose: str, candidates: list[str]) -> list[str]:
    """The algorithm as the module's docstring publishes it, written out independently."""

    def key(candidate: str) -> str:
        message = purpose.encode("utf-8") + b"\x00" + candidate.encode("utf-8")
        return hmac.new(seed.encode("utf-8"), message, hashlib.sha256).hexdigest()

    return sorted(candidates, key=lambda c: (key(c), c))


# ------------------------------------------------------------------------------------------------ the draw


def test_the_same_seed_and_inputs_give_the_same_draw_and_another_seed_a_different_one() -> None:
    first, again = draw.run(inputs()), draw.run(inputs())
    assert first == again
    assert len(first.drawn) == 8 and set(first.drawn) <= set(UNITS)
    other = draw.run(inputs(seed="2026118-03-17-23"))
    assert other.drawn != first.drawn
    assert set(other.drawn) != set(first.drawn)
    # Across many seeds the drawn sets are (almost) all different.
    sets = {frozenset(draw.run(inputs(seed=f"seed-{n}")).drawn) for n in range(50)}
    assert len(sets) == 50


def test_the_draw_is_the_published_algorithm() -> None:
    seed = "彩票 2026118 期 03 17 22 25 31 + 09"
    result = draw.run(inputs(seed=seed))
    assert list(result.drawn) == reference_rank(seed, "units", list(UNITS))[:8]
    for unit in ("locked-1", *result.drawn):
        purpose = f"inspectors\x00{unit}"
        eligible = [
            e.username
            for e in ROSTER
            if not (unit == "locked-1" and e.username == "li")
            and not (unit == "unit-03" and e.username == "wang")
        ]
        assert list(result.staffing[unit].inspectors) == reference_rank(seed, purpose, sorted(eligible))[:2]
    assert draw.ALGORITHM == "sha256-rank-v1"
    assert (
        common_draw.sort_key("s", "units", "a") == hmac.new(b"s", b"units\x00a", hashlib.sha256).hexdigest()
    )


def test_rank_does_not_depend_on_the_order_candidates_come_in() -> None:
    ids = list(UNITS[:10])
    ranked = draw.rank("x", "units", ids)
    assert sorted(ranked) == ids
    for order in itertools.islice(itertools.permutations(ids), 0, 2000, 97):
        assert draw.rank("x", "units", order) == ranked
    assert draw.rank("x", "other", ids) != ranked  # the purpose separates the draws


def test_every_unit_has_the_same_chance() -> None:
    counts: Counter[str] = Counter()
    trials = 3000
    for n in range(trials):
        counts.update(draw.run(inputs(seed=f"fair-{n}", candidates=UNITS[:10], count=2)).drawn)
    # Expected 600 each (20 %); the bounds lie about 5 standard deviations (≈ 22) away.
    assert all(480 < counts[unit] < 720 for unit in UNITS[:10]), counts


def test_must_visit_units_are_staffed_and_never_drawn_again() -> None:
    result = draw.run(inputs())
    assert set(result.staffing) == {"locked-1", "key-1", *result.drawn}
    assert list(result.staffing)[:2] == ["locked-1", "key-1"]
    with pytest.raises(ValueError):
        inputs(must_visit=("unit-01",))
    with pytest.raises(ValueError):
        inputs(must_visit=("a", "a"))


def test_count_zero_draws_nothing_and_count_all_draws_everyone() -> None:
    assert draw.run(inputs(count=0)).drawn == ()
    assert sorted(draw.run(inputs(count=len(UNITS))).drawn) == list(UNITS)
    assert draw.run(inputs(candidates=(), count=0)).drawn == ()


@pytest.mark.parametrize(
    "changes",
    [
        {"candidates": ("b", "a")},
        {"candidates": ("a", "a")},
        {"count": 41},
        {"count": -1},
        {"seed": ""},
        {"algorithm": "sha256-rank-v0"},
    ],
)
def test_inputs_that_cannot_be_drawn_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        inputs(**changes)


# ------------------------------------------------------------------------------------------------ inspectors


def test_inspectors_never_include_a_conflicted_one_nor_the_responsible_one() -> None:
    roster = (
        RosterEntry("li", "141121", conflicts=frozenset({"u1"})),
        RosterEntry("wang", "141121"),
        RosterEntry("zhang", "141121001", conflicts=frozenset({"u1", "u2"})),
        RosterEntry("zhao", "141121"),
        RosterEntry("chen", "141121002"),
    )
    seen: Counter[str] = Counter()
    for n in range(300):
        staffed = draw.choose_inspectors(f"s{n}", "u1", roster, jurisdiction="141121", responsible="wang")
        assert len(staffed.inspectors) == 2 and len(set(staffed.inspectors)) == 2
        assert not {"li", "zhang", "wang"} & set(staffed.inspectors)
        assert staffed.eligible == 2 and not staffed.flagged
        seen.update(
            draw.choose_inspectors(f"s{n}", "u2", roster, jurisdiction="141121", responsible=None).inspectors
        )
    assert set(seen) == {"li", "wang", "zhao", "chen"}  # everyone eligible is drawn some time


def test_the_responsible_inspector_may_be_drawn_where_the_province_allows_it() -> None:
    roster = (RosterEntry("li", "141121"), RosterEntry("wang", "141121"))
    excluded = draw.choose_inspectors("s", "u1", roster, jurisdiction="141121", responsible="li")
    assert excluded.flagged and excluded.inspectors == () and excluded.eligible == 1
    allowed = draw.choose_inspectors(
        "s", "u1", roster, jurisdiction="141121", responsible="li", exclude_responsible=False
    )
    assert sorted(allowed.inspectors) == ["li", "wang"]


def test_inactive_and_other_jurisdictions_inspectors_are_not_eligible() -> None:
    roster = (
        RosterEntry("li", "141121", active=False),
        RosterEntry("wang", "141122"),
        RosterEntry("zhang", "141121001"),
        RosterEntry("zhao", "141121002"),
        RosterEntry("chen", "141121"),
    )
    assert draw.eligible_inspectors(roster, "u", jurisdiction="141121", responsible=None) == [
        "chen",
        "zhang",
        "zhao",
    ]
    # A station's plan draws from the station's own roster.
    assert draw.eligible_inspectors(roster, "u", jurisdiction="141121001", responsible=None) == ["zhang"]


@pytest.mark.parametrize("eligible", [0, 1])
def test_fewer_than_two_eligible_inspectors_flags_the_unit_and_assigns_none(eligible: int) -> None:
    roster = (
        *(RosterEntry(f"p{n}", "141121") for n in range(eligible)),
        RosterEntry("conflicted", "141121", conflicts=frozenset({"u"})),
    )
    staffed = draw.choose_inspectors("s", "u", roster, jurisdiction="141121", responsible=None)
    assert staffed.flagged and staffed.inspectors == () and staffed.eligible == eligible
    result = draw.run(inputs(roster=roster, candidates=("u",), count=1, must_visit=()))
    assert result.flagged == ["u"]


def test_exactly_two_eligible_are_both_drawn() -> None:
    roster = (RosterEntry("b", "141121"), RosterEntry("a", "141121"))
    staffed = draw.choose_inspectors("s", "u", roster, jurisdiction="141121", responsible=None)
    assert sorted(staffed.inspectors) == ["a", "b"] and not staffed.flagged


# ------------------------------------------------------------------------------------------------ records


def test_recorded_inputs_give_back_the_same_draw_and_digest() -> None:
    original = inputs()
    recorded = draw.inputs_to_json(original)
    again = draw.inputs_from_json(recorded)
    assert draw.run(again) == draw.run(original)
    assert draw.inputs_digest(again) == draw.inputs_digest(original)
    # Listing the roster in another order is the same record.
    assert draw.inputs_digest(inputs(roster=tuple(reversed(ROSTER)))) == draw.inputs_digest(original)


@pytest.mark.parametrize(
    "changes",
    [
        {"seed": "other"},
        {"count": 7},
        {"candidates": UNITS[1:]},
        {"must_visit": ("locked-1",)},
        {"responsible": {}},
        {"exclude_responsible": False},
        {"roster": ROSTER[:-1]},
        {"roster": (*ROSTER[:-1], RosterEntry("chen", "141121", conflicts=frozenset({"unit-01"})))},
    ],
)
def test_any_change_of_the_inputs_changes_the_digest(changes: dict[str, object]) -> None:
    assert draw.inputs_digest(inputs(**changes)) != draw.inputs_digest(inputs())


@pytest.mark.parametrize(
    ("ratio", "population", "expected"),
    [
        (0, 30, 0),
        (0.1, 30, 3),  # not 4: 0.1 × 30 in binary floating point is 3.0000000000000004
        (0.1, 31, 4),
        (0.05, 1, 1),
        (0.3, 12, 4),
        (0.25, 12, 3),
        (1, 12, 12),
        (0.5, 0, 0),
        (0.7, 10, 7),
    ],
)
def test_the_ratio_is_rounded_up(ratio: float, population: int, expected: int) -> None:
    assert common_draw.draw_count(ratio, population) == expected


@pytest.mark.parametrize(("ratio", "population"), [(-0.1, 10), (1.01, 10), (0.5, -1)])
def test_an_impossible_ratio_is_refused(ratio: float, population: int) -> None:
    with pytest.raises(ValueError):
        common_draw.draw_count(ratio, population)


def test_a_new_seed_is_fresh_every_time() -> None:
    seeds = {common_draw.new_seed() for _ in range(100)}
    assert len(seeds) == 100 and all(len(seed) == 32 for seed in seeds)


# ------------------------------------------------------------------------------------------------ half-year rule


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 10), 6, date(2026, 7, 10)),
        (date(2026, 7, 1), 6, date(2027, 1, 1)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2027, 8, 31), 6, date(2028, 2, 29)),
        (date(2026, 3, 31), 3, date(2026, 6, 30)),
        (date(2026, 5, 20), 12, date(2027, 5, 20)),
        (date(2026, 5, 20), 0, date(2026, 5, 20)),
    ],
)
def test_add_months_clamps_to_the_month_end(day: date, months: int, expected: date) -> None:
    assert draw.add_months(day, months) == expected


def test_the_next_visit_is_due_months_after_the_last_or_after_locking() -> None:
    visited, locked = date(2026, 3, 1), date(2026, 1, 10)
    assert draw.visit_due_on(last_visit=visited, since=locked, every_months=6) == date(2026, 9, 1)
    assert draw.visit_due_on(last_visit=None, since=locked, every_months=6) == date(2026, 7, 10)
    assert draw.visit_due_on(last_visit=None, since=locked, every_months=None) == date(2026, 7, 10)
    assert draw.visit_due_on(last_visit=visited, since=None, every_months=3) == date(2026, 6, 1)
    assert draw.visit_due_on(last_visit=None, since=None, every_months=6) is None
    assert draw.is_due(None, date(2026, 1, 1))
    assert draw.is_due(date(2026, 7, 10), date(2026, 7, 10))
    assert not draw.is_due(date(2026, 7, 11), date(2026, 7, 10))
    assert draw.days_overdue(date(2026, 7, 10), date(2026, 8, 1)) == 22
    assert draw.days_overdue(date(2026, 7, 10), date(2026, 7, 1)) == 0
    assert draw.days_overdue(None, date(2026, 7, 1)) is None


def _unit(unit_id: str, **fields: object) -> dict[str, object]:
    return {
        "id": unit_id,
        "locked": False,
        "supervision_class": "routine",
        "last_visit": None,
        "locked_since": None,
        "visit_every_months": None,
        **fields,
    }


def test_must_visit_units_are_the_locked_special_and_key_ones_falling_due() -> None:
    by = date(2026, 12, 30)
    units = [
        _unit("locked-due", locked=True, locked_since=date(2026, 5, 1), visit_every_months=6),
        _unit("locked-recent", locked=True, last_visit=date(2026, 11, 1), visit_every_months=6),
        _unit("locked-on-the-day", locked=True, last_visit=date(2026, 6, 30), visit_every_months=6),
        _unit("locked-day-after", locked=True, last_visit=date(2026, 7, 1), visit_every_months=6),
        _unit("locked-quarterly", locked=True, last_visit=date(2026, 9, 1), visit_every_months=3),
        _unit("locked-unknown", locked=True),
        _unit("locked-key", locked=True, supervision_class="key", locked_since=date(2026, 1, 1)),
        _unit("key-never", supervision_class="key"),
        _unit("key-recent", supervision_class="key", last_visit=date(2026, 10, 1)),
        _unit("special-old", supervision_class="special", last_visit=date(2026, 3, 1)),
        # Not locked: when it was locked (an earlier lock) does not start a duty.
        _unit(
            "special-unlocked",
            supervision_class="special",
            locked_since=date(2026, 11, 1),
            last_visit=date(2026, 10, 1),
        ),
        _unit("routine-never", supervision_class="routine"),
    ]
    chosen = draw.select_must_visit(units, by=by)
    assert chosen == [
        ("key-never", "key_due", None),
        ("locked-due", "locked_due", date(2026, 11, 1)),
        ("locked-key", "locked_due", date(2026, 7, 1)),
        ("locked-on-the-day", "locked_due", date(2026, 12, 30)),
        ("locked-quarterly", "locked_due", date(2026, 12, 1)),
        ("locked-unknown", "locked_due", None),
        ("special-old", "special_due", date(2026, 9, 1)),
    ]
