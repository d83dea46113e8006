"""双随机: the reproducible, verifiable draw of units and inspectors, and the half-year visit rule.

Pure functions over plain data; the plan service feeds them and stores what they decide, together with
the seed and every input, so that anyone can re-run the draw.

Algorithm ``sha256-rank-v1`` ("sort by hash", ``services.common.draw``):

* The sort key of a candidate is ``HMAC-SHA256(key = UTF-8(seed), message = UTF-8(purpose) + 0x00 +
  UTF-8(candidate id))`` as lower-case hex. Candidates are sorted by ``(key, id)`` ascending and the first
  ``n`` are chosen.
* Units: purpose ``units``; the candidates are the plan's other active units (sorted, unique ids); ``n`` is
  ``ceil(ratio × number of candidates)`` computed in decimal (so 0.1 × 30 is 3, not 4).
* Inspectors: for every unit of the plan (the must-visit units, then the drawn ones), purpose
  ``inspectors`` + 0x00 + unit id, over the eligible roster: active, of the plan's jurisdiction (region
  code starting with it), no declared conflict of interest with the unit, and — when the province
  requires it (``exclude_responsible``, the default) — not the unit's own 监管责任人. The first two are
  chosen; fewer than two eligible leaves the unit unstaffed and ``flagged``.

Units that already have an open inspection of another published plan (``already_planned``: enterprise,
inspection and plan ids) are in neither the must-visit list nor the candidates. They are recorded with the
inputs, and so covered by the digest, only when there are some: a record without them is the same as before.

Re-running it in a few lines of Python::

    key = lambda c: hmac.new(seed.encode(), f"units\\x00{c}".encode(), hashlib.sha256).hexdigest()
    drawn = sorted(candidates, key=lambda c: (key(c), c))[:count]
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.common.draw import ALGORITHM, canonical_digest, rank

INSPECTORS_PER_VISIT = 2
UNITS = "units"
DEFAULT_VISIT_EVERY_MONTHS = 6  # 半年内现场检查不少于1次


def inspectors_purpose(unit_id: str) -> str:
    return f"inspectors\x00{unit_id}"


@dataclass(frozen=True)
class RosterEntry:
    """One inspector of the roster as the draw sees it."""

    username: str
    region_code: str
    active: bool = True
    conflicts: frozenset[str] = frozenset()  # enterprise ids (利害关系回避)


@dataclass(frozen=True)
class Staffing:
    """The inspectors drawn for one unit; ``flagged`` when fewer than two were eligible (none assigned)."""

    enterprise_id: str
    inspectors: tuple[str, ...]
    eligible: int

    @property
    def flagged(self) -> bool:
        return len(self.inspectors) < INSPECTORS_PER_VISIT


def eligible_inspectors(
    roster: Iterable[RosterEntry],
    unit_id: str,
    *,
    jurisdiction: str,
    responsible: str | None,
    exclude_responsible: bool = True,
) -> list[str]:
    """The usernames that may visit ``unit_id`` (unordered rules, sorted result)."""
    return sorted(
        {
            entry.username
            for entry in roster
            if entry.active
            and entry.region_code.startswith(jurisdiction)
            and unit_id not in entry.conflicts
            and not (exclude_responsible and responsible is not None and entry.username == responsible)
        }
    )


def choose_inspectors(
    seed: str,
    unit_id: str,
    roster: Iterable[RosterEntry],
    *,
    jurisdiction: str,
    responsible: str | None,
    exclude_responsible: bool = True,
) -> Staffing:
    """Two inspectors for one unit, drawn by ``sha256-rank-v1``; none (flagged) when fewer than two qualify."""
    eligible = eligible_inspectors(
        roster,
        unit_id,
        jurisdiction=jurisdiction,
        responsible=responsible,
        exclude_responsible=exclude_responsible,
    )
    if len(eligible) < INSPECTORS_PER_VISIT:
        return Staffing(unit_id, (), len(eligible))
    chosen = rank(seed, inspectors_purpose(unit_id), eligible)[:INSPECTORS_PER_VISIT]
    return Staffing(unit_id, tuple(chosen), len(eligible))


@dataclass(frozen=True)
class AlreadyPlanned:
    """A unit left out of the draw: it has an open (planned or in-progress) inspection of another plan."""

    enterprise_id: str
    inspection_id: str
    plan_id: str


@dataclass(frozen=True)
class DrawInputs:
    """Everything the draw depends on; recorded with the plan so that it can be re-run."""

    seed: str
    jurisdiction: str
    candidates: tuple[str, ...]  # the random pool, sorted and unique
    count: int
    must_visit: tuple[str, ...] = ()  # units visited anyway (not drawn), staffed first
    roster: tuple[RosterEntry, ...] = ()
    responsible: Mapping[str, str] = field(default_factory=dict)  # unit id → its 监管责任人
    exclude_responsible: bool = True
    algorithm: str = ALGORITHM
    already_planned: tuple[AlreadyPlanned, ...] = ()  # left out, sorted by enterprise id; not used by run()

    def __post_init__(self) -> None:
        if not self.seed:
            raise ValueError("the seed must not be empty")
        if self.algorithm != ALGORITHM:
            raise ValueError(f"unknown draw algorithm {self.algorithm!r}")
        if list(self.candidates) != sorted(set(self.candidates)):
            raise ValueError("candidates must be sorted and unique")
        if not 0 <= self.count <= len(self.candidates):
            raise ValueError(f"count {self.count} outside 0..{len(self.candidates)}")
        if len(set(self.must_visit)) != len(self.must_visit):
            raise ValueError("a must-visit unit is listed twice")
        if set(self.must_visit) & set(self.candidates):
            raise ValueError("a must-visit unit is also a candidate of the draw")
        left_out = [item.enterprise_id for item in self.already_planned]
        if left_out != sorted(set(left_out)):
            raise ValueError("already planned units must be sorted and unique")
        if set(left_out) & (set(self.candidates) | set(self.must_visit)):
            raise ValueError("an already planned unit is also in the draw")


@dataclass(frozen=True)
class DrawResult:
    drawn: tuple[str, ...]  # in draw order
    staffing: dict[str, Staffing]  # every unit of the plan (must-visit and drawn)

    @property
    def flagged(self) -> list[str]:
        return [unit for unit, staffed in self.staffing.items() if staffed.flagged]


def run(inputs: DrawInputs) -> DrawResult:
    """The draw: ``count`` units from the candidates, then two inspectors for every unit of the plan."""
    drawn = tuple(rank(inputs.seed, UNITS, inputs.candidates)[: inputs.count])
    staffing = {
        unit: choose_inspectors(
            inputs.seed,
            unit,
            inputs.roster,
            jurisdiction=inputs.jurisdiction,
            responsible=inputs.responsible.get(unit),
            exclude_responsible=inputs.exclude_responsible,
        )
        for unit in (*inputs.must_visit, *drawn)
    }
    return DrawResult(drawn=drawn, staffing=staffing)


def inputs_to_json(inputs: DrawInputs) -> dict[str, Any]:
    """The recorded form of the inputs (canonical: sorted roster and conflicts; ``already_planned`` only when
    some units were left out, so that the records and digests made before it existed stay the same)."""
    recorded: dict[str, Any] = {
        "algorithm": inputs.algorithm,
        "seed": inputs.seed,
        "jurisdiction": inputs.jurisdiction,
        "candidates": list(inputs.candidates),
        "count": inputs.count,
        "must_visit": list(inputs.must_visit),
        "roster": [
            {
                "username": entry.username,
                "region_code": entry.region_code,
                "active": entry.active,
                "conflicts": sorted(entry.conflicts),
            }
            for entry in sorted(inputs.roster, key=lambda entry: entry.username)
        ],
        "responsible": dict(sorted(inputs.responsible.items())),
        "exclude_responsible": inputs.exclude_responsible,
    }
    if inputs.already_planned:
        recorded["already_planned"] = [
            {
                "enterprise_id": item.enterprise_id,
                "inspection_id": item.inspection_id,
                "plan_id": item.plan_id,
            }
            for item in inputs.already_planned
        ]
    return recorded


def inputs_from_json(data: Mapping[str, Any]) -> DrawInputs:
    """The inputs back from their recorded form; ValueError/KeyError/TypeError when it is not one."""
    return DrawInputs(
        seed=data["seed"],
        jurisdiction=data["jurisdiction"],
        candidates=tuple(data["candidates"]),
        count=int(data["count"]),
        must_visit=tuple(data["must_visit"]),
        roster=tuple(
            RosterEntry(
                username=entry["username"],
                region_code=entry["region_code"],
                active=bool(entry["active"]),
                conflicts=frozenset(entry["conflicts"]),
            )
            for entry in data["roster"]
        ),
        responsible=dict(data["responsible"]),
        exclude_responsible=bool(data["exclude_responsible"]),
        algorithm=data["algorithm"],
        already_planned=tuple(
            AlreadyPlanned(
                enterprise_id=item["enterprise_id"],
                inspection_id=item["inspection_id"],
                plan_id=item["plan_id"],
            )
            for item in data.get("already_planned", [])
        ),
    )


def inputs_digest(inputs: DrawInputs) -> str:
    """SHA-256 of the canonical JSON of the inputs: published with the result, so they cannot change later."""
    return canonical_digest(inputs_to_json(inputs))


# --------------------------------------------------------------------------------- half-year visit rule


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months, clamped to the month's last day (31 Aug + 6 months = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def visit_due_on(*, last_visit: date | None, since: date | None, every_months: int | None) -> date | None:
    """建档锁定 — 半年内现场检查不少于1次: the last day by which the next on-site visit is owed.

    ``every_months`` after the last visit; never visited, after ``since`` (when the unit became locked).
    None when neither is known: the visit is owed now."""
    months = every_months or DEFAULT_VISIT_EVERY_MONTHS
    start = last_visit or since
    return None if start is None else add_months(start, months)


def is_due(due_on: date | None, by: date) -> bool:
    """Whether a visit due on ``due_on`` (None: owed now) falls due on or before ``by``."""
    return due_on is None or due_on <= by


def days_overdue(due_on: date | None, today: date) -> int | None:
    """Days past the due date (0 when not overdue); None when the due date is unknown (owed now)."""
    if due_on is None:
        return None
    return max(0, (today - due_on).days)


def select_must_visit(units: Sequence[Mapping[str, Any]], *, by: date) -> list[tuple[str, str, date | None]]:
    """The units a plan must visit whatever the draw: locked, special or key units whose visit falls due by
    ``by`` (the plan's last day). Each unit is a mapping with ``id``, ``locked``, ``supervision_class``,
    ``last_visit``, ``locked_since``, ``visit_every_months``. Returns (id, reason, due_on), sorted by id;
    reason ``locked_due``, ``special_due`` or ``key_due`` (in that precedence)."""
    chosen: list[tuple[str, str, date | None]] = []
    for unit in units:
        if unit["locked"]:
            reason = "locked_due"
        elif unit["supervision_class"] in ("special", "key"):
            reason = f"{unit['supervision_class']}_due"
        else:
            continue
        due_on = visit_due_on(
            last_visit=unit["last_visit"],
            since=unit["locked_since"] if unit["locked"] else None,
            every_months=unit["visit_every_months"],
        )
        if is_due(due_on, by):
            chosen.append((unit["id"], reason, due_on))
    return sorted(chosen)
